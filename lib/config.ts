/**
 * Deployment configuration of the CDK app: typed, validated once with zod, failing fast with a
 * message that names the bad setting.
 *
 * Read from CDK context (in this order, later wins):
 *  - `carrelConfig`: path of a JSON file (relative to the working directory), e.g. `-c carrelConfig=deploy/prod.json`;
 *  - `carrel`: an object in cdk.json / cdk.context.json, or a JSON string given with `-c carrel='{...}'`.
 * Every setting has a default so that `npx cdk synth` works offline on a fresh clone; a real deployment
 * sets at least `deskDomain` and `oidc`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_SIZES, workspaceSizesSchema } from '../lambdas/adapters/aws/workspace-sizes.js';

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
const CIDR = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\/(?:3[0-2]|[12]?\d)$|^[0-9a-f:]+\/(?:12[0-8]|1[01]\d|\d?\d)$/i;

const httpsUrl = z
  .string()
  .refine((v) => URL.canParse(v) && new URL(v).protocol === 'https:', { error: 'must be an https:// URL' });
const wholeSeconds = (fallback: number, min: number) =>
  z.number({ error: 'must be a number of seconds' }).int({ error: 'must be a whole number' }).min(min, { error: `must be at least ${min}` }).default(fallback);

/** Log retention values CloudWatch Logs accepts (days). */
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/** Days after which EFS moves a file that is not read to Infrequent Access (the values EFS accepts). */
export const EFS_IA_DAYS = [1, 7, 14, 30, 60, 90, 180, 270, 365] as const;

const AMI_ID = /^ami-[0-9a-f]{8,17}$/;
const SSM_PARAMETER_NAME = /^\/[A-Za-z0-9_.\-/]{1,1010}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const AZ_NAME = /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/;
const IMAGE_URI = /^[a-z0-9][a-z0-9.-]*(?::\d+)?\/[a-z0-9._/-]+(?::[A-Za-z0-9._-]{1,128}|@sha256:[0-9a-f]{64})$/;
const port = z
  .number({ error: 'must be a port number' })
  .int({ error: 'must be a port number' })
  .min(1, { error: 'must be a port number (1-65535)' })
  .max(65535, { error: 'must be a port number (1-65535)' });
const posixId = z
  .number({ error: 'must be a POSIX id' })
  .int({ error: 'must be a whole number' })
  .min(1000, { error: 'must be at least 1000 (a regular user; the provisioner refuses system ids)' })
  .max(2_147_483_647, { error: 'must be at most 2147483647' });
const retention = (fallback: number) =>
  z
    .number()
    .refine((v) => (RETENTION_DAYS as readonly number[]).includes(v), { error: `must be one of ${RETENTION_DAYS.join(', ')}` })
    .default(fallback);

const carrelConfigBase = z
  .object({
    /** Marks every resource of this deployment (tag `carrel:deployment`) and names the stacks. */
    deploymentId: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,23}$/, { error: 'must be 1-24 lower-case letters, digits or hyphens, starting with a letter' })
      .default('carrel'),
    /** The front desk's domain; workspaces are `ws-<random>.<deskDomain>`, gate cookies use `Domain=<deskDomain>`. */
    deskDomain: z
      .string()
      .toLowerCase()
      .regex(DNS_NAME, { error: 'must be a DNS name like desk.example.org' })
      .default('desk.example.org'),
    /** Route 53 zone that holds `deskDomain` (optional until workspace hostnames are published). */
    hostedZone: z
      .object({
        zoneId: z.string().regex(/^Z[A-Z0-9]{4,32}$/, { error: 'must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ' }),
        zoneName: z.string().toLowerCase().regex(DNS_NAME, { error: 'must be a DNS name' }),
      })
      .optional(),
    /** ACM certificate in us-east-1 for `deskDomain` on CloudFront. Without it the site uses the *.cloudfront.net name. */
    certificateArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate\/[0-9a-f-]{36}$/, {
        error: 'must be an ACM certificate ARN in us-east-1 (CloudFront only uses certificates from us-east-1)',
      })
      .optional(),
    /**
     * The organisation's OpenID Connect identity provider. The desk signs in with the Authorization Code flow
     * (PKCE, nonce); register `https://<deskDomain>/auth/callback` as its redirect URI and
     * `https://<deskDomain>/` as its post-logout redirect URI.
     */
    oidc: z
      .object({
        /** The issuer; discovery is read from `<issuer>/.well-known/openid-configuration`. */
        issuer: httpsUrl.default('https://idp.example.org'),
        /** The client id registered for the desk (the audience of the ID tokens). @default audience */
        clientId: z.string().min(1, { error: 'must not be empty' }).max(255, { error: 'must be at most 255 characters' }).optional(),
        /** Former name of the client id, still accepted. */
        audience: z.string().min(1, { error: 'must not be empty' }).default('carrel'),
        /**
         * Secrets Manager secret holding the client secret (the string, or JSON `{"clientSecret": "..."}`); its
         * complete ARN, including the random suffix. @default - a public client (PKCE, no secret)
         */
        clientSecretArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/, {
            error: 'must be the complete ARN of a Secrets Manager secret, with its 6-character suffix (arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf)',
          })
          .optional(),
        /** Scopes asked for besides `openid` (e.g. `groups` where the provider puts groups behind a scope). */
        scopes: z
          .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, { error: 'must be a scope name' }))
          .default(['profile']),
        /** Unused: the sign-in reads the provider's `jwks_uri` from discovery. Accepted so existing files stay valid. */
        jwksUrl: httpsUrl.optional(),
        /** Claim of the ID token that lists the user's roles/groups. */
        rolesClaim: z.string().min(1, { error: 'must not be empty' }).default('groups'),
        /** Name of the desk session cookie that carries the session. */
        /** The desk session cookie; `__Host-` keeps workspace hosts from planting one. */
        sessionCookie: z.string().regex(/^[A-Za-z0-9_-]+$/, { error: 'must be a cookie name' }).default('__Host-carrel_session'),
        /** How long a desk session lasts after signing in (5 minutes to 7 days). */
        sessionTtlSeconds: wholeSeconds(28_800, 300).refine((v) => v <= 604_800, { error: 'must be at most 604800 (7 days)' }),
      })
      .prefault({})
      .transform(({ clientId, ...oidc }) => ({ ...oidc, clientId: clientId ?? oidc.audience })),
    /** One idle policy for every tool. */
    idle: z
      .object({
        timeoutSeconds: wholeSeconds(1800, 60),
        warningSeconds: wholeSeconds(60, 1),
        /** Stopped workspaces are terminated after this long (the home stays). */
        stoppedRetentionHours: z.number().int().min(1, { error: 'must be at least 1' }).default(168),
      })
      .prefault({}),
    /** Lifetimes of what the desk signs and how often the page reports. */
    tokens: z
      .object({
        gateCookieTtlSeconds: wholeSeconds(900, 30),
        agentTokenTtlSeconds: wholeSeconds(2_592_000, 60),
        heartbeatSeconds: wholeSeconds(60, 5),
      })
      .prefault({}),
    /**
     * Where workspaces run: `ec2` (an instance from `workspaceImageId`, provisioned over SSH), `fargate` (a task
     * with the tool and the gate as a sidecar) or `none` (no AWS workspaces: no network, homes or compute are
     * deployed and opening a workspace fails with a clear reason).
     */
    computeKind: z.enum(['none', 'ec2', 'fargate'], { error: 'must be none, ec2 or fargate' }).default('none'),
    /**
     * EC2: the pre-baked workspace image, an AMI id (`ami-...`) or the name of an SSM parameter that holds one
     * (`/carrel/images/workspace`; resolved at deploy time, so a new image is a reviewed redeploy).
     */
    workspaceImageId: z
      .string()
      .refine((v) => AMI_ID.test(v) || SSM_PARAMETER_NAME.test(v), {
        error: 'must be an AMI id like ami-0123456789abcdef0 or an SSM parameter name like /carrel/images/workspace',
      })
      .optional(),
    /** Workspace sizes by name: EC2 instance types (tried in order) and Fargate CPU/memory (lambdas/adapters/aws/workspace-sizes.ts). */
    instanceSizes: workspaceSizesSchema.default(DEFAULT_SIZES),
    /**
     * Networks whose browsers may reach the gate's HTTPS port on workspaces (IP filtering); empty = none.
     * The whole internet (`0.0.0.0/0`, `::/0`) is refused: list the networks researchers connect from.
     */
    allowedCidrs: z
      .array(
        z
          .string()
          .regex(CIDR, { error: 'must be a CIDR block like 10.0.0.0/16' })
          .refine((v) => !v.endsWith('/0'), { error: 'must not open workspaces to the whole internet (/0): list the networks researchers use' }),
      )
      .default([]),
    /** Which address a workspace hostname points at: `private` (reached over VPN/Direct Connect) or `public`. */
    workspaceAddress: z.enum(['private', 'public'], { error: 'must be private or public' }).default('private'),
    /** EC2: hibernate on stop (where the instance type supports it); the root volume must hold the RAM. */
    hibernate: z.boolean({ error: 'must be true or false' }).default(false),
    /** The gate's HTTPS port on workspaces. */
    gatePort: port.default(443),
    /** TTL of `ws-*` records. */
    hostnameTtlSeconds: wholeSeconds(60, 10),
    /**
     * With workspaces: the gates' `*.<deskDomain>` certificate, issued at deploy and renewed daily with ACME DNS-01
     * on `hostedZone` (lib/constructs/gate-certificate-renewal.ts).
     */
    gateCertificate: z
      .object({
        /** The ACME CA. Let's Encrypt production by default; its staging directory to try a deployment. */
        acmeDirectoryUrl: httpsUrl.default('https://acme-v02.api.letsencrypt.org/directory'),
        /** Contact address of the ACME account (the CA may write about problems with it). */
        contactEmail: z.email({ error: 'must be an email address' }).optional(),
        /** Renew when the certificate expires within this many days. */
        renewBeforeDays: z.number().int({ error: 'must be a whole number of days' }).min(1, { error: 'must be at least 1' }).max(60, { error: 'must be at most 60' }).default(30),
      })
      .strict()
      .prefault({}),
    /** Homes: one EFS file system, an access point per analysis and researcher. */
    homes: z
      .object({
        /** POSIX owner of every home. */
        uid: posixId.default(1000),
        gid: posixId.default(1000),
        /** `elastic` scales with use and bills per transfer (best for bursty notebooks); `bursting` scales with size. */
        throughputMode: z.enum(['elastic', 'bursting'], { error: 'must be elastic or bursting' }).default('elastic'),
        /** Days without a read before a file moves to Infrequent Access (it moves back on first access). */
        transitionToIADays: z
          .number()
          .refine((v) => (EFS_IA_DAYS as readonly number[]).includes(v), { error: `must be one of ${EFS_IA_DAYS.join(', ')}` })
          .default(30),
      })
      .strict()
      .prefault({}),
    /** The workspace network (created, or an existing VPC). */
    vpc: z
      .object({
        /** Address range of the created VPC. */
        cidr: z.string().regex(CIDR, { error: 'must be a CIDR block like 10.40.0.0/16' }).default('10.40.0.0/16'),
        /** Zones to span (at least two; more than two needs `env.account` and `env.region`). */
        maxAzs: z.number().int({ error: 'must be a whole number' }).min(2, { error: 'must be at least 2 (workspaces span two zones)' }).max(6).default(2),
        /**
         * NAT gateways: 1 (default) is one shared gateway, the cheapest (one hourly charge); an outage of its zone
         * cuts egress for both zones. Set it to `maxAzs` for one per zone (zone-independent egress).
         */
        natGateways: z.number().int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1 (workspaces and the provisioner need egress)' }).default(1),
        /** Days to keep VPC flow logs. */
        flowLogRetentionDays: retention(365),
        /**
         * Use this existing VPC instead of creating one. Its owner provides egress (NAT), the S3/DynamoDB gateway
         * endpoints and flow logs; carrel only adds its security groups, EFS mount targets and the provisioner.
         */
        vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, { error: 'must be a VPC id like vpc-0123456789abcdef0' }).optional(),
        /** With `vpcId`: the zones of the subnets below, in the same order. */
        availabilityZones: z.array(z.string().regex(AZ_NAME, { error: 'must be an availability zone like eu-west-2a' })).optional(),
        /** With `vpcId`: private subnets with egress, one per zone (workspaces, mount targets, the provisioner). */
        privateSubnetIds: z.array(z.string().regex(SUBNET_ID, { error: 'must be a subnet id like subnet-0123456789abcdef0' })).optional(),
        /** With `vpcId` and `workspaceAddress: public`: public subnets, one per zone. */
        publicSubnetIds: z.array(z.string().regex(SUBNET_ID, { error: 'must be a subnet id like subnet-0123456789abcdef0' })).optional(),
      })
      .strict()
      .prefault({}),
    /** AWS Backup of the homes and the table. */
    backup: z
      .object({
        /** When the daily backup starts (AWS Backup cron, UTC). */
        schedule: z
          .string()
          .regex(/^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$/, { error: 'must be an AWS cron expression like cron(0 3 * * ? *)' })
          .default('cron(0 3 * * ? *)'),
        /** Days to keep each backup. */
        retentionDays: z.number().int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(36500).default(35),
      })
      .strict()
      .prefault({}),
    /** EC2 workspaces. */
    ec2: z
      .object({
        /** Root volume (encrypted gp3); with `hibernate` it must hold the instance's RAM too. */
        rootVolumeGiB: z.number().int({ error: 'must be a whole number' }).min(8, { error: 'must be at least 8' }).max(16384).default(32),
        /** The image's root device (`/dev/xvda` on Amazon Linux and Debian, `/dev/sda1` on Ubuntu). */
        rootDeviceName: z.string().regex(/^\/dev\/[a-z0-9]+$/, { error: 'must be a device name like /dev/xvda' }).default('/dev/xvda'),
        /**
         * Let operators open shell sessions with SSM Session Manager (adds AmazonSSMManagedInstanceCore to the
         * instance role). Off by default: the provisioner's SSH covers automation, and a session bypasses the gate.
         */
        sessionManager: z.boolean({ error: 'must be true or false' }).default(false),
        /** Bump to generate a new provisioner SSH key (new instances get it; stopped ones keep the old one). */
        provisionerKeyGeneration: z.number().int().min(1).default(1),
        /**
         * The warm pool: spare instances kept running per size, each with its hostname already published, so
         * an open or resume takes one and is ready in seconds (it costs those instances' running hours).
         * Empty (the default): every workspace launches or starts its own instance.
         */
        warmPool: z
          .object({
            /** Spare instances per size name, e.g. `{ small: 2 }`. */
            sizes: z.record(z.string(), z.number().int({ error: 'must be a whole number of spares' }).min(0).max(50, { error: 'must be at most 50' })).default({}),
            /**
             * Resume stopped workspaces on a spare (their stopped instance is then terminated; the home is on
             * EFS). False keeps starting the stopped instance, slower but keeping what hibernation saved.
             */
            forResume: z.boolean({ error: 'must be true or false' }).default(true),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Fargate workspaces. */
    fargate: z
      .object({
        /** The tool's image (Jupyter), e.g. `quay.io/jupyter/minimal-notebook:2025-01-06` or an ECR image. */
        toolImage: z.string().regex(IMAGE_URI, { error: 'must be an image with a tag or digest, like quay.io/jupyter/minimal-notebook:2025-01-06' }).optional(),
        /** The gate's image (assets/gate), e.g. `<account>.dkr.ecr.<region>.amazonaws.com/carrel-gate:1.0.0`. */
        gateImage: z.string().regex(IMAGE_URI, { error: 'must be an image with a tag or digest, like registry.example.org/carrel-gate:1.0.0' }).optional(),
        /** CPU architecture of both images. */
        architecture: z.enum(['arm64', 'x86_64'], { error: 'must be arm64 or x86_64' }).default('arm64'),
        /** Where the home is mounted in the tool container. */
        homeMountPath: z.string().regex(/^\/[A-Za-z0-9._/-]+$/, { error: 'must be an absolute path' }).default('/home/jovyan'),
      })
      .strict()
      .prefault({}),
    /**
     * Enclave runs (issue 5, docs/enclave.md): reviewed code run against the real dataset in an isolated
     * network, outputs released only after review. Off by default; `enabled: true` needs `mailFrom` and a dataset.
     */
    enclave: z
      .object({
        enabled: z.boolean({ error: 'must be true or false' }).default(false),
        /** The role (from `oidc.rolesClaim`) a user needs to review runs. */
        reviewerRole: z.string().min(1, { error: 'must not be empty' }).max(128, { error: 'must be at most 128 characters' }).default('reviewer'),
        /** User ids (email addresses) told when a run waits for review. */
        reviewers: z.array(z.string().regex(/^[^\s@<>",]+@[^\s@<>",]+\.[^\s@<>",]+$/, { error: 'must be an email address' })).max(50, { error: 'at most 50 (mail them through a group address instead)' }).default([]),
        /** Two approvals from different reviewers at each review step. */
        twoApprovals: z.boolean({ error: 'must be true or false' }).default(false),
        /** Counts below this in output tables are flagged as a disclosure risk. */
        smallCountThreshold: z.number({ error: 'must be a number' }).int({ error: 'must be a whole number' }).min(2, { error: 'must be at least 2' }).max(1000, { error: 'must be at most 1000' }).default(10),
        /** The real dataset, read-only for runs: an S3 bucket ARN with an optional key prefix. */
        dataset: z
          .object({
            /** e.g. `arn:aws:s3:::uni-research-data`. */
            bucketArn: z.string().regex(/^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'must be an S3 bucket ARN like arn:aws:s3:::research-data' }),
            /** Only objects under this prefix (no leading slash), e.g. `cohort-2026/`. @default the whole bucket */
            prefix: z.string().regex(/^(?:[A-Za-z0-9!_.*'()/-]+\/)?$/, { error: "must be a key prefix ending in '/' (or empty)" }).default(''),
            /** The KMS key the dataset is encrypted with, if it is a customer managed key. */
            kmsKeyArn: z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/, { error: 'must be a KMS key ARN' }).optional(),
          })
          .strict()
          .optional(),
        /** Days the raw outputs a run wrote are kept (the collected, reviewed archive is kept with the submission). */
        outputRetentionDays: z.number({ error: 'must be a number of days' }).int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(3650, { error: 'must be at most 3650' }).default(30),
        /** How long a release link works, in seconds (at most 7 days: a presigned link's ceiling). */
        releaseLinkTtlSeconds: wholeSeconds(86_400, 60).refine((v) => v <= 604_800, { error: 'must be at most 604800 (7 days)' }),
        /** The SES-verified sender of the run notices, e.g. `enclave@uni.example`. */
        mailFrom: z.string().regex(/^[^\s@<>",]+@[^\s@<>",]+\.[^\s@<>",]+$/, { error: 'must be an email address verified in SES' }).optional(),
        /** The image runs are built on (code is copied into it; nothing of the submission is executed at build). */
        baseImage: z.string().regex(IMAGE_URI, { error: 'must be an image with a tag or digest, like public.ecr.aws/docker/library/python:3.12-slim' }).default('public.ecr.aws/docker/library/python:3.12-slim'),
        /** CPU architecture of the runs (and of the base image). */
        architecture: z.enum(['arm64', 'x86_64'], { error: 'must be arm64 or x86_64' }).default('arm64'),
        /** Fargate size of a run. */
        cpu: z.union([z.literal(1024), z.literal(2048), z.literal(4096), z.literal(8192), z.literal(16384)], { error: 'must be 1024, 2048, 4096, 8192 or 16384' }).default(2048),
        memoryMiB: z.number({ error: 'must be a number' }).int({ error: 'must be a whole number' }).min(2048, { error: 'must be at least 2048' }).max(122_880, { error: 'must be at most 122880' }).default(8192),
        /** Address range of the enclave's own VPC (isolated subnets only). */
        vpcCidr: z.string().regex(CIDR, { error: 'must be a CIDR block like 10.20.0.0/16' }).default('10.20.0.0/16'),
      })
      .strict()
      .prefault({}),
    /** Default-stage throttling of the HTTP API. */
    api: z
      .object({
        rateLimit: z.number().positive().default(50),
        burstLimit: z.number().int().positive().default(100),
      })
      .prefault({}),
    /** Retention of Lambda, API and CloudFront logs, in days. */
    logRetentionDays: z
      .number()
      .refine((v) => (RETENTION_DAYS as readonly number[]).includes(v), { error: `must be one of ${RETENTION_DAYS.join(', ')}` })
      .default(90),
    logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
    /** Account and region to pin the stacks to; leave unset for environment-agnostic stacks. */
    env: z
      .object({
        account: z.string().regex(/^\d{12}$/, { error: 'must be a 12-digit AWS account id' }).optional(),
        region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: 'must be an AWS region like eu-west-2' }).optional(),
      })
      .optional(),
  })
  .strict();

/** Fargate's memory range (MiB) per CPU size. */
const FARGATE_MEMORY: Readonly<Record<number, readonly [number, number]>> = {
  1024: [2048, 8192],
  2048: [4096, 16384],
  4096: [8192, 30720],
  8192: [16384, 61440],
  16384: [32768, 122880],
};

export const carrelConfigSchema = carrelConfigBase.superRefine((config, ctx) => {
  if (config.idle.warningSeconds >= config.idle.timeoutSeconds) {
    ctx.addIssue({ code: 'custom', path: ['idle', 'warningSeconds'], message: 'must be shorter than idle.timeoutSeconds' });
  }
  if (config.tokens.heartbeatSeconds >= config.idle.timeoutSeconds) {
    ctx.addIssue({ code: 'custom', path: ['tokens', 'heartbeatSeconds'], message: 'must be shorter than idle.timeoutSeconds' });
  }
  if (config.tokens.gateCookieTtlSeconds <= config.tokens.heartbeatSeconds) {
    ctx.addIssue({
      code: 'custom',
      path: ['tokens', 'gateCookieTtlSeconds'],
      message: 'must be longer than tokens.heartbeatSeconds (the heartbeat refreshes the cookie)',
    });
  }
  if (config.enclave.enabled) {
    if (!config.enclave.dataset) ctx.addIssue({ code: 'custom', path: ['enclave', 'dataset'], message: 'must be set when the enclave is enabled (the S3 location of the real dataset)' });
    const memory = FARGATE_MEMORY[config.enclave.cpu];
    if (memory && (config.enclave.memoryMiB < memory[0] || config.enclave.memoryMiB > memory[1])) {
      ctx.addIssue({ code: 'custom', path: ['enclave', 'memoryMiB'], message: `must be between ${memory[0]} and ${memory[1]} with enclave.cpu ${config.enclave.cpu} (Fargate's sizes)` });
    }
    if (!config.enclave.mailFrom) ctx.addIssue({ code: 'custom', path: ['enclave', 'mailFrom'], message: 'must be set when the enclave is enabled (the SES-verified sender of run notices)' });
  }
  const zone = config.hostedZone?.zoneName;
  if (zone && config.deskDomain !== zone && !config.deskDomain.endsWith(`.${zone}`)) {
    ctx.addIssue({ code: 'custom', path: ['hostedZone', 'zoneName'], message: `must be deskDomain (${config.deskDomain}) or a parent of it` });
  }
  workspaceIssues(config).forEach(([path, message]) => ctx.addIssue({ code: 'custom', path, message }));
});

/** Settings that only make sense together with a compute kind, and the VPC settings that go together. */
function workspaceIssues(config: z.output<typeof carrelConfigBase>): Array<[string[], string]> {
  const issues: Array<[string[], string]> = [];
  const kind = config.computeKind;
  if (kind !== 'none' && !config.hostedZone) {
    issues.push([['hostedZone'], `is required with computeKind ${kind} (workspace hostnames ws-*.${config.deskDomain} are published in it)`]);
  }
  if (kind === 'ec2' && !config.workspaceImageId) {
    issues.push([['workspaceImageId'], 'is required with computeKind ec2 (an AMI id or an SSM parameter name)']);
  }
  if (kind === 'fargate') {
    if (!config.fargate.toolImage) issues.push([['fargate', 'toolImage'], 'is required with computeKind fargate']);
    if (!config.fargate.gateImage) issues.push([['fargate', 'gateImage'], 'is required with computeKind fargate']);
    for (const [name, size] of Object.entries(config.instanceSizes)) {
      if (size.cpu === undefined) issues.push([['instanceSizes', name], 'needs cpu and memoryMiB with computeKind fargate']);
    }
    if (config.hibernate) issues.push([['hibernate'], 'applies to computeKind ec2 only (a Fargate task cannot hibernate)']);
  }
  for (const [size, spares] of Object.entries(config.ec2.warmPool.sizes)) {
    if (!(size in config.instanceSizes)) issues.push([['ec2', 'warmPool', 'sizes', size], `is not one of instanceSizes (${Object.keys(config.instanceSizes).join(', ')})`]);
    else if (spares > 0 && kind !== 'ec2') issues.push([['ec2', 'warmPool', 'sizes', size], 'applies to computeKind ec2 only (a Fargate task cannot take a home after it started)']);
  }
  if (kind !== 'none' && [22, 2049].includes(config.gatePort)) {
    issues.push([['gatePort'], `must not be ${config.gatePort} (SSH and NFS have their own rules)`]);
  }
  const vpc = config.vpc;
  if (vpc.natGateways > vpc.maxAzs) issues.push([['vpc', 'natGateways'], `must be at most vpc.maxAzs (${vpc.maxAzs})`]);
  if (vpc.vpcId) {
    const zones = vpc.availabilityZones?.length ?? 0;
    if (zones < 2) issues.push([['vpc', 'availabilityZones'], 'must list at least two zones with vpc.vpcId']);
    if ((vpc.privateSubnetIds?.length ?? 0) !== zones || zones === 0) {
      issues.push([['vpc', 'privateSubnetIds'], 'must list one private subnet per zone of vpc.availabilityZones with vpc.vpcId']);
    }
    if (config.workspaceAddress === 'public' && (vpc.publicSubnetIds?.length ?? 0) !== zones) {
      issues.push([['vpc', 'publicSubnetIds'], 'must list one public subnet per zone of vpc.availabilityZones with vpc.vpcId and workspaceAddress public']);
    }
  } else {
    for (const key of ['availabilityZones', 'privateSubnetIds', 'publicSubnetIds'] as const) {
      if (vpc[key]) issues.push([['vpc', key], 'applies only with vpc.vpcId (an existing VPC)']);
    }
  }
  return issues;
}

export type CarrelConfig = z.output<typeof carrelConfigSchema>;
export type CarrelConfigInput = z.input<typeof carrelConfigSchema>;

/** The configuration is invalid; the message names every bad setting and where it came from. */
export class CarrelConfigError extends Error {
  constructor(
    message: string,
    readonly issues: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CarrelConfigError';
  }
}

/** Validate raw configuration; `source` says where it came from for the error message. */
export function parseConfig(raw: unknown, source = 'configuration'): CarrelConfig {
  const parsed = carrelConfigSchema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const where = path ? `${path}.` : '';
      return issue.keys.map((key) => `${where}${key}: is not a known setting`).join('; ');
    }
    return `${path || '(root)'}: ${issue.message}`;
  });
  return fail(`Invalid carrel ${source}: ${issues.join('; ')}`, issues);
}

/** Anything that can answer `tryGetContext` (an App, a Node). */
export interface ContextSource {
  tryGetContext(key: string): unknown;
}

/**
 * Load the configuration from CDK context: the JSON file named by `carrelConfig`, overlaid with the
 * `carrel` context object. Throws a CarrelConfigError naming the bad setting.
 */
export function loadConfig(context: ContextSource, cwd = process.cwd()): CarrelConfig {
  const sources: string[] = [];
  let merged: Record<string, unknown> = {};

  const file = context.tryGetContext('carrelConfig');
  if (file !== undefined) {
    if (typeof file !== 'string' || file.trim() === '') fail('Invalid carrel configuration: context carrelConfig must be a path to a JSON file');
    const path = resolve(cwd, file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      return fail(`Cannot read the carrel configuration file ${path} (context carrelConfig): ${(error as Error).message}`, [], error);
    }
    merged = asObject(parseJson(text, `file ${path}`), `file ${path}`);
    sources.push(`file ${path}`);
  }

  const inline = context.tryGetContext('carrel');
  if (inline !== undefined) {
    const value = typeof inline === 'string' ? parseJson(inline, 'context "carrel"') : inline;
    merged = deepMerge(merged, asObject(value, 'context "carrel"'));
    sources.push('context "carrel"');
  }

  return parseConfig(merged, sources.length ? `configuration (from ${sources.join(' and ')})` : 'configuration (defaults)');
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    return fail(`The carrel configuration in ${where} is not valid JSON: ${(error as Error).message}`, [], error);
  }
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(`The carrel configuration in ${where} must be a JSON object`);
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function fail(message: string, issues: readonly string[] = [], cause?: unknown): never {
  throw new CarrelConfigError(message, issues, cause === undefined ? undefined : { cause });
}
