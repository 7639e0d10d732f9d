import { fileURLToPath } from 'node:url';

/** The package root (holding configs/, pipelines/, docker/), from dist/src/util at run time. */
export const projectRoot: string = fileURLToPath(new URL('../../../', import.meta.url));
