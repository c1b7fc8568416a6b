import { open } from 'node:fs/promises';

/**
 * A file's lines (without the newline or a trailing CR), read in large chunks: replaying a
 * million-point log spends its time here and in JSON.parse, and readline costs several times more.
 */
export async function* logLines(path: string, chunkBytes = 1 << 24): AsyncGenerator<string> {
  const fh = await open(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(chunkBytes);
    // The bytes of a line split across chunks (kept as bytes so a multi-byte character survives).
    let carry: Buffer | null = null;
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      let start = 0;
      for (let nl = chunk.indexOf(10, 0); nl >= 0 && nl < bytesRead; nl = chunk.indexOf(10, start)) {
        let line: string;
        if (carry) {
          line = Buffer.concat([carry, chunk.subarray(start, nl)]).toString('utf8');
          carry = null;
        } else line = chunk.toString('utf8', start, nl);
        yield line.endsWith('\r') ? line.slice(0, -1) : line;
        start = nl + 1;
      }
      if (start < bytesRead) {
        const rest = chunk.subarray(start, bytesRead);
        carry = carry ? Buffer.concat([carry, rest]) : Buffer.from(rest);
      }
    }
    if (carry) yield carry.toString('utf8');
  } finally {
    await fh.close();
  }
}
