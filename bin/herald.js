#!/usr/bin/env node
// Entry point of the `herald` command: runs the TypeScript sources through tsx, so a fresh
// clone needs `npm ci` and nothing else (no build step to forget).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
