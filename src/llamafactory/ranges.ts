/**
 * Value ranges of the numeric LLaMA-Factory arguments that a typo or a mutated file gets wrong most.
 * The dataclasses only declare types, so NaN, a negative batch size or 1e12 epochs would pass the type
 * check and fail (or run forever) inside the trainer, hours later on a cluster.
 */
export interface ArgRange {
  min: number;
  /** min itself is not allowed */
  minExclusive?: boolean;
  max: number;
  /** values allowed besides the range, e.g. -1 for "no limit" */
  also?: readonly number[];
  /** why the bound, shown in the fix */
  note?: string;
}

const COUNT = 1_000_000_000;

export const ARG_RANGES: ReadonlyMap<string, ArgRange> = new Map<string, ArgRange>([
  ['learning_rate', { min: 0, minExclusive: true, max: 1, note: 'fine-tuning rates are around 1e-7 .. 1e-4' }],
  ['num_train_epochs', { min: 0, minExclusive: true, max: 10_000 }],
  ['per_device_train_batch_size', { min: 1, max: 65_536 }],
  ['per_device_eval_batch_size', { min: 1, max: 65_536 }],
  ['gradient_accumulation_steps', { min: 1, max: 65_536 }],
  ['cutoff_len', { min: 1, max: 16_777_216, note: 'the sequence length in tokens' }],
  ['max_steps', { min: 1, max: COUNT, also: [-1], note: '-1 means "train for num_train_epochs"' }],
  ['save_steps', { min: 0, minExclusive: true, max: COUNT, note: 'values below 1 are a fraction of the total steps' }],
  ['logging_steps', { min: 0, minExclusive: true, max: COUNT, note: 'values below 1 are a fraction of the total steps' }],
  ['eval_steps', { min: 0, minExclusive: true, max: COUNT }],
  ['warmup_steps', { min: 0, max: COUNT }],
  ['warmup_ratio', { min: 0, max: 1 }],
  ['weight_decay', { min: 0, max: 10 }],
  ['max_grad_norm', { min: 0, max: 1e6 }],
  ['save_total_limit', { min: 1, max: COUNT }],
  ['max_samples', { min: 1, max: 1e12 }],
  ['preprocessing_num_workers', { min: 1, max: 4096 }],
  ['dataloader_num_workers', { min: 0, max: 4096 }],
  ['seed', { min: 0, max: 2 ** 32 - 1 }],
  ['pref_beta', { min: 0, max: 1e6 }],
  ['pref_ftx', { min: 0, max: 1e6 }],
  ['lora_rank', { min: 1, max: 65_536 }],
  ['lora_dropout', { min: 0, max: 1 }],
]);

/** Why a number is out of bounds for `key`, or undefined. Every numeric argument must be finite. */
export function checkRange(key: string, value: number): { problem: string; fix: string } | undefined {
  if (!Number.isFinite(value)) {
    return { problem: `${key} must be a finite number, got ${String(value)}`, fix: `write a number${rangeText(ARG_RANGES.get(key))}` };
  }
  const r = ARG_RANGES.get(key);
  if (r === undefined || r.also?.includes(value)) return undefined;
  const low = r.minExclusive ? value <= r.min : value < r.min;
  if (low || value > r.max) return { problem: `${key} ${value} is out of range`, fix: `write a number${rangeText(r)}` };
  return undefined;
}

function rangeText(r: ArgRange | undefined): string {
  if (r === undefined) return '';
  const also = r.also?.length ? ` (or ${r.also.join(', ')})` : '';
  const note = r.note ? `; ${r.note}` : '';
  return ` ${r.minExclusive ? 'above' : 'from'} ${r.min} up to ${r.max}${also}${note}`;
}
