import { useEffect, useRef } from 'preact/hooks';
import { h } from 'preact';

interface Handlers {
  go: (key: string) => void;
  help: () => void;
  theme: () => void;
  escape: () => void;
}

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

/** Two-key "g x" navigation, "?" for help, "t" for theme, "/" to focus the page's search box. */
export function useShortcuts(handlers: Handlers): void {
  const ref = useRef(handlers);
  ref.current = handlers;
  useEffect(() => {
    let pendingG = 0;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        ref.current.escape();
        return;
      }
      if (e.metaKey || e.ctrlKey || e.altKey || typing(e.target)) return;
      if (pendingG && Date.now() - pendingG < 1500) {
        pendingG = 0;
        ref.current.go(e.key);
        e.preventDefault();
        return;
      }
      pendingG = 0;
      if (e.key === 'g') pendingG = Date.now();
      else if (e.key === '?') ref.current.help();
      else if (e.key === 't') ref.current.theme();
      else if (e.key === '/') {
        const search = document.querySelector<HTMLElement>('main [data-search]');
        if (search) {
          e.preventDefault();
          search.focus();
        }
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}

const HELP: [string, string][] = [
  ['g o', 'Overview'],
  ['g f', 'Findings'],
  ['g i', 'Forensics (investigate)'],
  ['g a', 'Ask'],
  ['g m', 'Embedding map'],
  ['g c', 'Cases'],
  ['g h', 'Sources & status (health)'],
  ['g s', 'Settings'],
  ['/', 'Focus the search or filter box'],
  ['j / k', 'Next / previous row in a table'],
  ['Enter', 'Open the focused row'],
  ['t', 'Toggle dark / light theme'],
  ['?', 'This help'],
  ['Esc', 'Close'],
];

export function ShortcutHelp({ onClose }: { onClose: () => void }) {
  return h(
    'div',
    { class: 'modal-backdrop', onClick: onClose },
    h(
      'div',
      {
        class: 'modal',
        role: 'dialog',
        'aria-modal': 'true',
        'aria-label': 'Keyboard shortcuts',
        onClick: (e: Event) => e.stopPropagation(),
      },
      h('h2', null, 'Keyboard shortcuts'),
      h(
        'dl',
        { class: 'shortcuts' },
        HELP.flatMap(([k, v]) => [
          h('dt', { key: `k${k}` }, h('kbd', null, k)),
          h('dd', { key: `v${k}` }, v),
        ]),
      ),
      h('button', { type: 'button', onClick: onClose, autoFocus: true }, 'Close'),
    ),
  );
}
