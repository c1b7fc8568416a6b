import { useEffect, useState } from 'preact/hooks';
import { onUnauthorised, session } from './api.ts';
import { ShortcutHelp, useShortcuts } from './shortcuts.ts';
import { navigate, useLocation } from './router.ts';
import { applyTheme, initialTheme, type Theme } from './theme.ts';
import { AskPage } from './pages/Ask.tsx';
import { CasesPage } from './pages/Cases.tsx';
import { EmbeddingMapPage } from './pages/EmbeddingMap.tsx';
import { FindingDetailPage } from './pages/FindingDetail.tsx';
import { FindingsPage } from './pages/Findings.tsx';
import { ForensicsPage } from './pages/Forensics.tsx';
import { OverviewPage } from './pages/Overview.tsx';
import { SettingsPage } from './pages/Settings.tsx';
import { SignInPage } from './pages/SignIn.tsx';
import { SourcesPage } from './pages/Sources.tsx';

export const NAV = [
  { path: '/', label: 'Overview', key: 'o' },
  { path: '/findings', label: 'Findings', key: 'f' },
  { path: '/forensics', label: 'Forensics', key: 'i' },
  { path: '/ask', label: 'Ask', key: 'a' },
  { path: '/map', label: 'Embedding map', key: 'm' },
  { path: '/cases', label: 'Cases', key: 'c' },
  { path: '/sources', label: 'Sources & status', key: 'h' },
  { path: '/settings', label: 'Settings', key: 's' },
] as const;

function Page({ path }: { path: string }) {
  const detail = /^\/findings\/([0-9a-f-]{36})$/i.exec(path);
  if (detail?.[1]) return <FindingDetailPage id={detail[1]} />;
  switch (path) {
    case '/':
      return <OverviewPage />;
    case '/findings':
      return <FindingsPage />;
    case '/forensics':
      return <ForensicsPage />;
    case '/ask':
      return <AskPage />;
    case '/map':
      return <EmbeddingMapPage />;
    case '/cases':
      return <CasesPage />;
    case '/sources':
      return <SourcesPage />;
    case '/settings':
      return <SettingsPage />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            Nothing lives at <code>{path}</code>. <a href="/">Back to the overview</a>.
          </p>
        </section>
      );
  }
}

export function App() {
  const loc = useLocation();
  const [signedIn, setSignedIn] = useState(() => session.key() !== null);
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const [help, setHelp] = useState(false);
  useEffect(() => applyTheme(theme), [theme]);
  useEffect(
    () =>
      onUnauthorised(() => {
        session.signOut();
        setSignedIn(false);
      }),
    [],
  );
  useShortcuts({
    go: (key) => {
      const item = NAV.find((n) => n.key === key);
      if (item) navigate(item.path);
    },
    help: () => setHelp((h) => !h),
    theme: () => setTheme((t) => (t === 'dark' ? 'light' : 'dark')),
    escape: () => setHelp(false),
  });
  // Moving focus to the page heading tells keyboard and screen-reader users the page changed.
  useEffect(() => {
    document.querySelector<HTMLElement>('main h1')?.focus({ preventScroll: true });
  }, [loc.path]);

  if (!signedIn) return <SignInPage onSignedIn={() => setSignedIn(true)} />;
  const active = loc.path.startsWith('/findings') ? '/findings' : loc.path;
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <nav class="sidebar" aria-label="Main">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            ≋
          </span>{' '}
          Tidewatch
        </div>
        <ul>
          {NAV.map((n) => (
            <li key={n.path}>
              <a href={n.path} aria-current={active === n.path ? 'page' : undefined} title={`g ${n.key}`}>
                {n.label}
                <kbd>g {n.key}</kbd>
              </a>
            </li>
          ))}
        </ul>
        <div class="sidebar-foot">
          <button
            type="button"
            onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
            data-testid="theme-toggle"
          >
            {theme === 'dark' ? 'Light theme' : 'Dark theme'}
          </button>
          <button type="button" onClick={() => setHelp(true)}>
            Shortcuts <kbd>?</kbd>
          </button>
          <button
            type="button"
            onClick={() => {
              session.signOut();
              setSignedIn(false);
            }}
          >
            Sign out
          </button>
        </div>
      </nav>
      <main id="main">
        <Page path={loc.path} />
      </main>
      {help && <ShortcutHelp onClose={() => setHelp(false)} />}
    </div>
  );
}
