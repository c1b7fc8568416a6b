import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, request, session } from '../api.ts';

export function SignInPage({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  // The key box is the only thing on the page: put the caret there.
  useEffect(() => input.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      // Any read route proves the key; the cheapest is one finding.
      await request('GET', '/v1/findings?limit=1', undefined, key.trim());
      session.signIn(key.trim());
      onSignedIn();
    } catch (err) {
      setError(
        err instanceof ApiError && (err.status === 401 || err.status === 403)
          ? 'That key was not accepted.'
          : `Cannot reach the API: ${(err as Error).message}`,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">
          <span class="logo" aria-hidden="true">
            ≋
          </span>{' '}
          Tidewatch
        </h1>
        <p class="muted">Sign in with an API key (read scope or higher).</p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="current-password"
          ref={input}
          required
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
        />
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy || !key.trim()}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        <p class="muted small">The key stays in this tab's session storage and is sent as a Bearer token.</p>
      </form>
    </main>
  );
}
