import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { uniqueName, waitFor } from '@tidewatch/testing';
import { type BusMessage, KafkaBus, type KafkaBusSettings } from '../src/index.ts';

/**
 * SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) over plaintext and TLS, against a broker with such
 * listeners. The CI harness (scripts/services.sh) starts none, so this suite runs only where one is
 * configured: TW_KAFKA_SASL_BROKERS (SASL_PLAINTEXT), TW_KAFKA_SASL_SSL_BROKERS (SASL_SSL) with
 * TW_KAFKA_TLS_CA_FILE, and a user TW_KAFKA_SASL_USERNAME / TW_KAFKA_SASL_PASSWORD known to every
 * mechanism. The SCRAM computation itself is checked against the RFC vectors in wire-codecs.test.ts.
 */
const env = (name: string) => process.env[name];
const configured =
  env('TW_KAFKA_SASL_BROKERS') && env('TW_KAFKA_SASL_USERNAME') && env('TW_KAFKA_SASL_PASSWORD');

describe('KafkaBus wire client with SASL and TLS', {
  skip: configured ? false : 'no SASL listener configured (TW_KAFKA_SASL_BROKERS; the CI harness has none)',
}, () => {
  const buses: KafkaBus[] = [];
  after(async () => {
    await Promise.allSettled(buses.map((b) => b.close()));
  });
  const username = env('TW_KAFKA_SASL_USERNAME')!;
  const password = env('TW_KAFKA_SASL_PASSWORD')!;
  const listeners: { name: string; brokers: string | undefined; ssl?: KafkaBusSettings['ssl'] }[] = [
    { name: 'SASL_PLAINTEXT', brokers: env('TW_KAFKA_SASL_BROKERS') },
    {
      name: 'SASL_SSL',
      brokers: env('TW_KAFKA_SASL_SSL_BROKERS'),
      ...(env('TW_KAFKA_TLS_CA_FILE')
        ? { ssl: { ca: [readFileSync(env('TW_KAFKA_TLS_CA_FILE')!, 'utf8')] } }
        : {}),
    },
  ];
  for (const listener of listeners) {
    for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
      it(`produces and consumes over ${listener.name} with ${mechanism}`, {
        skip: listener.brokers ? false : `${listener.name} not configured`,
      }, async () => {
        const bus = new KafkaBus({
          brokers: listener.brokers!.split(','),
          clientId: 'sasl-test',
          sasl: { mechanism, username, password },
          ...(listener.ssl ? { ssl: listener.ssl } : {}),
        });
        buses.push(bus);
        const topic = uniqueName('sasl');
        await bus.ensureTopics([{ topic, partitions: 2, withDeadLetter: false }]);
        const producer = await bus.producer();
        await producer.send(
          topic,
          Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(`v${i}`) })),
        );
        await producer.close();
        const seen: BusMessage[] = [];
        const consumer = bus.consumer({ groupId: uniqueName('g'), topics: [topic] });
        await consumer.run(async (messages) => {
          seen.push(...messages);
        });
        await waitFor(() => seen.length === 50, { what: '50 messages' });
        await waitFor(async () => (await consumer.lag()).every((p) => p.lag === 0), { what: 'lag 0' });
        await consumer.stop();
        assert.deepEqual(
          seen.map((m) => m.value.toString()).sort(),
          Array.from({ length: 50 }, (_, i) => `v${i}`).sort(),
        );
      });
    }
  }

  it('names the mechanism and user when the password is wrong', async () => {
    for (const mechanism of ['plain', 'scram-sha-256'] as const) {
      const bus = new KafkaBus({
        brokers: env('TW_KAFKA_SASL_BROKERS')!.split(','),
        clientId: 'sasl-test',
        sasl: { mechanism, username, password: `${password}-wrong` },
        retries: 0,
      });
      buses.push(bus);
      await assert.rejects(bus.producer(), (error: Error) => {
        assert.match(
          error.message,
          new RegExp(
            `^SASL Authentication failed \\[SASL_AUTHENTICATION_FAILED\\].*: SASL ${mechanism.toUpperCase()} as ${username}$`,
          ),
        );
        return true;
      });
    }
  });
});
