// The one-time codes are mailed to the test's SMTP server: ask the test for them over stdout/stdin.
const lines = [];
let wake = null;
let buffered = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buffered += chunk;
  for (let at = buffered.indexOf("\n"); at >= 0; at = buffered.indexOf("\n")) {
    lines.push(buffered.slice(0, at));
    buffered = buffered.slice(at + 1);
    wake?.();
  }
});
export async function code(email) {
  process.stdout.write(`CODE ${email}\n`);
  while (!lines.length) await new Promise((r) => (wake = r));
  return lines.shift();
}
