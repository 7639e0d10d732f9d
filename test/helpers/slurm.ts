import { execa } from 'execa';

/**
 * Whether a Slurm controller answers (bash .ci/infra.sh slurm; SLURM_CONF exported): false, or why the
 * Slurm tests skip. In CI with FLUX_SLURM=1 a missing controller is a failure, not a skip.
 */
export async function slurmReady(): Promise<string | false> {
  const r = await execa('scontrol', ['ping'], { reject: false });
  if (r.exitCode === 0 && /UP/.test(r.stdout)) return false;
  const why = `no Slurm controller answers (scontrol ping: ${(r.stdout || r.stderr || String((r as { code?: string }).code)).trim().split('\n')[0]}); start one with: bash .ci/infra.sh slurm && export SLURM_CONF=/tmp/flux-ci/ci/slurm/slurm.conf`;
  if (process.env['CI'] === 'true' && process.env['FLUX_SLURM'] === '1') throw new Error(why);
  return why;
}
