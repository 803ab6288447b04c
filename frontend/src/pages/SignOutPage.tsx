import { useEffect } from 'react';
import { signOut } from '../api.js';
import { Layout } from '../components/Layout.js';

/** Ends the session, then shows the sign-in page. */
export async function signOutAndLeave(): Promise<void> {
  await signOut();
  window.location.assign('/sign-in');
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
