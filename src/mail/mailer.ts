import nodemailer from "nodemailer";
import type { Logger } from "../lib/logger.js";

export interface Mail {
  to: string;
  subject: string;
  text: string;
}
export interface Mailer {
  send(mail: Mail): Promise<void>;
  close(): void;
}

/** SMTP through nodemailer when SMTP_URL is set. */
export function smtpMailer(url: string, from: string): Mailer {
  const transport = nodemailer.createTransport(url);
  return {
    async send(mail) {
      await transport.sendMail({ from, ...mail });
    },
    close: () => transport.close(),
  };
}

/**
 * Development only (production refuses to start without SMTP): the mail, code included, is printed
 * to the console so the README's cURL walkthrough works without a mail server. It bypasses the
 * structured logger on purpose, which redacts codes.
 */
export function consoleMailer(
  logger: Logger,
  print: (s: string) => void = (s) => process.stdout.write(s),
): Mailer {
  return {
    async send(mail) {
      logger.info("mail printed to console (development mailer)");
      print(`\n--- mail to ${mail.to}: ${mail.subject}\n${mail.text}\n---\n`);
    },
    close() {},
  };
}
