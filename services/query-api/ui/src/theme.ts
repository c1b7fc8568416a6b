export type Theme = 'dark' | 'light';
const STORAGE = 'tidewatch.theme';

export function initialTheme(): Theme {
  const saved = localStorage.getItem(STORAGE);
  if (saved === 'dark' || saved === 'light') return saved;
  return window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset['theme'] = theme;
  localStorage.setItem(STORAGE, theme);
}
