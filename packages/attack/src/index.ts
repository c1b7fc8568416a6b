export * from './attack.ts';
export * from './catalogue.ts';
