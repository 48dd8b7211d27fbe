import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  to: string[];
  raw: string;
}

/** A real SMTP server inside the test: mails the server sends land here to be read. */
export async function startSmtp() {
  const mails: ReceivedMail[] = [];
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        mails.push({
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          raw: Buffer.concat(chunks).toString(),
        });
        for (const w of waiters.splice(0)) w();
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
      const match = mail && /verification code is (\d{6})/.exec(mail.raw);
      if (!match) throw new Error(`no code in the last mail to ${to}`);
      return match[1]!;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
export type Smtp = Awaited<ReturnType<typeof startSmtp>>;
