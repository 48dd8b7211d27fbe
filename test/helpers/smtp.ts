import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  to: string[];
  raw: string;
  /** Subject and decoded text body, for assertions on what a person would read. */
  text: string;
}

function readable(raw: string): string {
  const [head = "", ...rest] = raw.split("\r\n\r\n");
  let body = rest.join("\r\n\r\n");
  if (/content-transfer-encoding: quoted-printable/i.test(head)) {
    body = body
      .replace(/=\r?\n/g, "")
      .replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
  }
  const subject = /^subject: (.*)$/im.exec(head)?.[1] ?? "";
  return `${subject}\n${body}`;
}

/** A real SMTP server inside the test: mails the server sends land here to be read. */
export async function startSmtp() {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString();
        mails.push({
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          raw,
          text: readable(raw),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as { port: number }).port;

  const latestTo = (to: string) => mails.filter((m) => m.to.includes(to.toLowerCase())).at(-1);
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    /** Every mail received for `to`, oldest first. */
    to: (to: string) => mails.filter((m) => m.to.includes(to.toLowerCase())),
    /** The 6-digit code in the newest mail to `to`; throws if that mail carries none. */
    code(to: string): string {
      const mail = latestTo(to);
      const match = mail && /verification code is (\d{6})/.exec(mail.text);
      if (!match) throw new Error(`no code in the last mail to ${to}`);
      return match[1]!;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
export type Smtp = Awaited<ReturnType<typeof startSmtp>>;
