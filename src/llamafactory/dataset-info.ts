/**
 * What LLaMA-Factory's dataset_info.json needs to know about a dataset; a pipeline's dataset
 * declaration is one (this layer sits below the pipeline and does not import its schema).
 */
export interface DatasetDeclaration {
  formatting: 'alpaca' | 'sharegpt';
  ranking: boolean;
  columns?: Partial<Record<string, string | undefined>> | undefined;
  tags?: Partial<Record<string, string | undefined>> | undefined;
  num_samples?: number | undefined;
  split?: string | undefined;
}

/** The columns LLaMA-Factory will read, with its defaults made explicit so dataset_info.json documents itself. */
export function effectiveColumns(spec: DatasetDeclaration): Record<string, string> {
  const given = Object.fromEntries(Object.entries(spec.columns ?? {}).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const base: Record<string, string> =
    spec.formatting === 'alpaca'
      ? spec.ranking
        ? { prompt: 'instruction', query: 'input', chosen: 'chosen', rejected: 'rejected' }
        : { prompt: 'instruction', query: 'input', response: 'output' }
      : spec.ranking
        ? { messages: 'conversations', chosen: 'chosen', rejected: 'rejected' }
        : { messages: 'conversations' };
  return { ...base, ...given };
}

export const DEFAULT_TAGS = {
  role_tag: 'from',
  content_tag: 'value',
  user_tag: 'human',
  assistant_tag: 'gpt',
  observation_tag: 'observation',
  function_tag: 'function_call',
  system_tag: 'system',
} as const;

export function effectiveTags(spec: DatasetDeclaration): Record<keyof typeof DEFAULT_TAGS, string> {
  const given = Object.fromEntries(Object.entries(spec.tags ?? {}).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_TAGS, ...given } as Record<keyof typeof DEFAULT_TAGS, string>;
}

/** One dataset_info.json entry; `fileName` is the path as the trainer sees it. */
export function datasetInfoEntry(spec: DatasetDeclaration, fileName: string): Record<string, unknown> {
  const entry: Record<string, unknown> = { file_name: fileName, formatting: spec.formatting, ranking: spec.ranking };
  entry['columns'] = effectiveColumns(spec);
  if (spec.formatting === 'sharegpt' && spec.tags) entry['tags'] = effectiveTags(spec);
  if (spec.num_samples !== undefined) entry['num_samples'] = spec.num_samples;
  if (spec.split !== undefined) entry['split'] = spec.split;
  return entry;
}
