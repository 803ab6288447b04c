/** Unified diffs for the review console (jsdiff). */
import { createTwoFilesPatch } from 'diff';
import type { TextDiffer } from '../core/runs/api.js';

export const unifiedDiff: TextDiffer = (path, before, after) => createTwoFilesPatch(`a/${path}`, `b/${path}`, before, after, 'last approved', 'this run', { context: 3 });
