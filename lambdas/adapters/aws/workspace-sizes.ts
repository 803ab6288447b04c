/**
 * Workspace sizes: a name researchers' analyses refer to (`small`, `large`, ...) mapped to EC2 instance
 * types (tried in order on capacity errors) and Fargate CPU/memory. Validated once from configuration
 * (the `WORKSPACE_SIZES` JSON of the Lambda environment, `instanceSizes` of the CDK config).
 */
import * as z from 'zod';

/** Fargate's valid CPU units and the memory (MiB) each allows. */
const FARGATE_MEMORY: Readonly<Record<number, readonly [number, number, number]>> = {
  256: [512, 2048, 1024],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

export const workspaceSizeSchema = z
  .object({
    /** EC2 instance types in order of preference, e.g. ["t4g.large", "m7g.large"]. */
    instanceTypes: z
      .array(z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { error: 'must be EC2 instance types like t4g.large' }))
      .min(1, { error: 'needs at least one instance type' }),
    /** Fargate CPU units (256 … 16384). */
    cpu: z.number().int().optional(),
    /** Fargate memory in MiB, valid for the CPU. */
    memoryMiB: z.number().int().optional(),
  })
  .strict()
  .superRefine((size, ctx) => {
    if ((size.cpu === undefined) !== (size.memoryMiB === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'cpu and memoryMiB go together' });
      return;
    }
    if (size.cpu === undefined || size.memoryMiB === undefined) return;
    const range = FARGATE_MEMORY[size.cpu];
    if (!range) {
      ctx.addIssue({ code: 'custom', path: ['cpu'], message: `must be one of ${Object.keys(FARGATE_MEMORY).join(', ')}` });
      return;
    }
    const [min, max, step] = range;
    if (size.memoryMiB < min || size.memoryMiB > max || size.memoryMiB % step !== 0) {
      ctx.addIssue({ code: 'custom', path: ['memoryMiB'], message: `must be ${min}-${max} MiB in steps of ${step} for cpu ${size.cpu}` });
    }
  });

export type WorkspaceSize = z.infer<typeof workspaceSizeSchema>;

export const workspaceSizesSchema = z
  .record(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, { error: 'size names must be lower-case words' }), workspaceSizeSchema)
  .refine((sizes) => Object.keys(sizes).length > 0, { error: 'define at least one size' });

export type WorkspaceSizes = z.infer<typeof workspaceSizesSchema>;

export const DEFAULT_SIZES: WorkspaceSizes = {
  small: { instanceTypes: ['t4g.medium', 't4g.large'], cpu: 1024, memoryMiB: 4096 },
  medium: { instanceTypes: ['m7g.large', 'm6g.large'], cpu: 2048, memoryMiB: 8192 },
  large: { instanceTypes: ['m7g.2xlarge', 'm6g.2xlarge'], cpu: 8192, memoryMiB: 32768 },
};

/** The size of `name`, or a clear error naming the sizes that exist. */
export function sizeOf(sizes: WorkspaceSizes, name: string): WorkspaceSize {
  const size = sizes[name];
  if (!size) throw new Error(`Unknown workspace size "${name}" (configured: ${Object.keys(sizes).join(', ')})`);
  return size;
}
