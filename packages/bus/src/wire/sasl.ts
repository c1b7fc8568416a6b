import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export interface SaslCredentials {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

/** One SASL exchange: first() gives the client's first message, next() answers each challenge. */
export interface SaslSession {
  first(): Buffer;
  /** The next client message, or null when the exchange is complete. */
  next(challenge: Buffer): Buffer | null;
}

export class SaslError extends Error {
  override name = 'SaslError';
}

export function saslSession(credentials: SaslCredentials): SaslSession {
  if (credentials.mechanism === 'plain') {
    return {
      first: () => Buffer.from(`\0${credentials.username}\0${credentials.password}`),
      next: () => null,
    };
  }
  const hash = credentials.mechanism === 'scram-sha-256' ? 'sha256' : 'sha512';
  return new ScramSession(hash, credentials.username, credentials.password);
}

/** RFC 5802 SCRAM client (channel binding not used: gs2 header "n,,"). */
export class ScramSession implements SaslSession {
  readonly #clientFirstBare: string;
  #step = 0;
  #expectedServerSignature: Buffer | undefined;

  constructor(
    readonly hash: 'sha1' | 'sha256' | 'sha512',
    readonly username: string,
    readonly password: string,
    readonly nonce: string = randomBytes(24).toString('base64url'),
  ) {
    this.#clientFirstBare = `n=${username.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${nonce}`;
  }

  first(): Buffer {
    this.#step = 1;
    return Buffer.from(`n,,${this.#clientFirstBare}`);
  }

  next(challenge: Buffer): Buffer | null {
    if (this.#step === 1) {
      this.#step = 2;
      return Buffer.from(this.clientFinal(challenge.toString('utf8')));
    }
    if (this.#step === 2) {
      this.#step = 3;
      this.verifyServerFinal(challenge.toString('utf8'));
      return null;
    }
    throw new SaslError('SCRAM: unexpected message after the exchange completed');
  }

  /** The client-final message for a server-first message. */
  clientFinal(serverFirst: string): string {
    const attrs = parseAttributes(serverFirst);
    if (attrs.e) throw new SaslError(`SCRAM: server error ${attrs.e}`);
    const serverNonce = attrs.r;
    const salt = attrs.s;
    const iterations = Number(attrs.i);
    if (!serverNonce || !salt || !Number.isInteger(iterations) || iterations < 1) {
      throw new SaslError(`SCRAM: malformed server-first message ${JSON.stringify(serverFirst)}`);
    }
    if (!serverNonce.startsWith(this.nonce)) throw new SaslError('SCRAM: server nonce does not extend ours');
    const size = this.hash === 'sha1' ? 20 : this.hash === 'sha256' ? 32 : 64;
    const salted = pbkdf2Sync(this.password, Buffer.from(salt, 'base64'), iterations, size, this.hash);
    const clientKey = hmac(this.hash, salted, 'Client Key');
    const storedKey = createHash(this.hash).update(clientKey).digest();
    const withoutProof = `c=biws,r=${serverNonce}`;
    const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(this.hash, storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ signature[i]!;
    this.#expectedServerSignature = hmac(this.hash, hmac(this.hash, salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  verifyServerFinal(serverFinal: string): void {
    const attrs = parseAttributes(serverFinal);
    if (attrs.e) throw new SaslError(`SCRAM: server rejected the proof: ${attrs.e}`);
    const v = attrs.v ? Buffer.from(attrs.v, 'base64') : undefined;
    const expected = this.#expectedServerSignature;
    if (!v || !expected || v.length !== expected.length || !timingSafeEqual(v, expected)) {
      throw new SaslError('SCRAM: the server signature does not match (not the server we authenticated to)');
    }
  }
}

function hmac(hash: string, key: Buffer, text: string): Buffer {
  return createHmac(hash, key).update(text).digest();
}

function parseAttributes(message: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}
