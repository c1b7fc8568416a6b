import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Lines of a text file with 1-based line numbers; CRLF and LF both end a line. */
export async function* readLines(path: string): AsyncGenerator<{ line: number; text: string }> {
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  try {
    for await (const text of rl) {
      line++;
      yield { line, text: line === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text };
    }
  } finally {
    rl.close();
  }
}
