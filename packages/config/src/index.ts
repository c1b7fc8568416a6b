export { z } from 'zod';
export * from './errors.ts';
export * from './load.ts';
export * from './mask.ts';
export * from './vars.ts';
