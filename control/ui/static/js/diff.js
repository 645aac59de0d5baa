// Line diff of two texts (longest common subsequence), for a release's prompt versus stable's.
// Prompts are short; inputs above LIMIT lines are shown whole instead of diffed.
const LIMIT = 400;

export function diffLines(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.length > LIMIT || b.length > LIMIT) {
    return [...a.map((t) => ["del", t]), ...b.map((t) => ["add", t])];
  }
  const table = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { out.push(["same", a[i]]); i++; j++; }
    else if (table[i + 1][j] >= table[i][j + 1]) out.push(["del", a[i++]]);
    else out.push(["add", b[j++]]);
  }
  while (i < a.length) out.push(["del", a[i++]]);
  while (j < b.length) out.push(["add", b[j++]]);
  return out;
}

// A prompt version as text: the system message, then each extra message with its role.
export function promptText(prompt) {
  if (!prompt) return "";
  const lines = [];
  if (prompt.system) lines.push(`[system] ${prompt.system}`);
  for (const message of prompt.messages || []) {
    const content = typeof message.content === "string" ? message.content : JSON.stringify(message.content);
    lines.push(`[${message.role}] ${content}`);
  }
  return lines.join("\n");
}
