import { type BusMessage, PoisonMessageError, RetriableError } from './bus.ts';

export type ErrorClass = 'retriable' | 'poison' | 'unknown';

/**
 * Errors of a value that can never be decoded: the Confluent framing (WireFormatError), an unknown
 * schema id, the bounds check before avsc (AvroBoundsError), or avsc rejecting the body.
 */
const DECODE_ERROR_NAMES = new Set(['WireFormatError', 'UnknownSchemaError', 'AvroBoundsError']);
const AVSC_DECODE_MESSAGES = /^(truncated buffer|trailing data|invalid |unknown |no matching )/;

export function isDecodeError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return DECODE_ERROR_NAMES.has(error.name) || AVSC_DECODE_MESSAGES.test(error.message);
}

export function classifyError(error: unknown): ErrorClass {
  if (error instanceof RetriableError) return 'retriable';
  if (error instanceof PoisonMessageError || isDecodeError(error)) return 'poison';
  return 'unknown';
}

/** The error's class name for a metric label (a bounded set, unlike messages). */
export function errorClass(error: unknown): string {
  const name = error instanceof Error ? error.name : 'Error';
  return /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(name) ? name : 'Error';
}

/** `${name}: ${message}` of an error, bounded, for the `x-error` header and logs. */
export function describeError(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : `Error: ${String(error)}`;
  return text.length > 2000 ? `${text.slice(0, 1997)}...` : text;
}

/**
 * Decodes a message's value, turning any decode failure into a PoisonMessageError that names the
 * message, so the bus dead-letters exactly that one.
 */
export function decodeMessage<T>(decode: (value: Buffer) => T, message: BusMessage): T {
  try {
    return decode(message.value);
  } catch (cause) {
    throw new PoisonMessageError(
      `cannot decode ${message.topic}[${message.partition}]@${message.offset}: ${describeError(cause)}`,
      { cause, busMessage: message },
    );
  }
}

export const DEAD_LETTER_SUFFIX = '.dlq';

export function deadLetterTopic(topic: string): string {
  return `${topic}${DEAD_LETTER_SUFFIX}`;
}

/** Headers a dead-lettered message carries beside its original headers. */
export function deadLetterHeaders(message: BusMessage, error: unknown): Record<string, string> {
  return {
    ...message.headers,
    'x-error': describeError(error),
    'x-original-topic': message.topic,
    'x-original-partition': String(message.partition),
    'x-original-offset': message.offset,
  };
}
