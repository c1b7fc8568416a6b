import { render } from 'preact';
import { App } from './App.tsx';
import { interceptLinks } from './router.ts';
import './styles.css';

const root = document.getElementById('app');
if (!root) throw new Error('#app is missing from index.html');
interceptLinks(root);
render(<App />, root);
