import { render } from 'preact';
import { prefetch, session } from './api.ts';
import { interceptLinks } from './router.ts';
import './styles.css';

// The overview's data is requested while the app code (charts included) is still loading: the
// entry chunk is small, the rest arrives by dynamic import.
const params = new URLSearchParams(window.location.search);
if (window.location.pathname === '/' && session.key() && (params.get('range') ?? 'all') === 'all')
  prefetch('/v1/overview?from=0');

const root = document.getElementById('app');
if (!root) throw new Error('#app is missing from index.html');
interceptLinks(root);
const { App } = await import('./App.tsx');
render(<App />, root);
