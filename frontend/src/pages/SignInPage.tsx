import { useEffect, useId, useState, type FormEvent } from 'react';
import { signIn } from '../api.js';
import { Layout } from '../components/Layout.js';
import { signInUrl } from '../logic/redirect.js';

/**
 * Local mode's stand-in for the organisation's single sign-on: the sign-in page of the local identity
 * provider (local/idp.ts), which sends the browser here with `?request=<id>`. Without one, the sign-in starts
 * at the desk (`/auth/login`), which comes back here through the provider.
 */
export function SignInPage() {
  const params = new URLSearchParams(window.location.search);
  const request = params.get('request');
  const [username, setUsername] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const fieldId = useId();
  const errorId = useId();

  useEffect(() => {
    document.title = 'Sign in · carrel';
    if (!request) window.location.replace(signInUrl(params.get('next') ?? '/'));
  }, []);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    const result = await signIn(request ?? '', username.trim());
    if (result.ok) {
      window.location.assign(result.data.redirect);
      return;
    }
    setBusy(false);
    setError(result.message);
  }

  return (
    <Layout>
      <section className="panel sign-in" aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Sign in to carrel</h1>
        <p className="muted">This local sign-in stands in for your organisation's single sign-on.</p>
        <form onSubmit={submit} noValidate>
          <div className="field">
            <label htmlFor={fieldId}>Username</label>
            <input
              id={fieldId}
              name="username"
              type="text"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              autoFocus
              required
              value={username}
              onChange={(event) => setUsername(event.target.value)}
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? errorId : undefined}
            />
          </div>
          {error ? (
            <p className="form-error" id={errorId} role="alert" data-testid="sign-in-error">
              {error}
            </p>
          ) : null}
          <button type="submit" className="button button-primary" disabled={busy}>
            Sign in
          </button>
        </form>
      </section>
    </Layout>
  );
}
