import { useEffect } from 'react';
import { signOut } from '../api.js';
import { Layout } from '../components/Layout.js';

/** Ends the session, then continues at the identity provider's sign-out (or the desk's home). */
export async function signOutAndLeave(): Promise<void> {
  const result = await signOut();
  window.location.assign(result.ok && result.data?.redirect ? result.data.redirect : '/');
}

export function SignOutPage() {
  useEffect(() => {
    document.title = 'Signing out · carrel';
    void signOutAndLeave();
  }, []);
  return (
    <Layout>
      <p role="status">Signing out…</p>
    </Layout>
  );
}

export function SignOutLink() {
  return (
    <a
      href="/sign-out"
      onClick={(event) => {
        event.preventDefault();
        void signOutAndLeave();
      }}
    >
      Sign out
    </a>
  );
}
