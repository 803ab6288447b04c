/**
 * Every latency the AWS open→ready model uses, in one table: each figure with its basis, its source and
 * the reasoning that turned the source into the number. docs/aws-latency-model.md shows the same table
 * (`npx tsx test/bench/aws-model.ts --latency-table` prints it; the bench says when the doc is stale).
 *
 * Figures are typical (median-like) values in seconds, not worst cases. Where no public figure exists the
 * basis says `estimate` and the reasoning says what the number rests on: change it here when a real
 * deployment measures better. Intervals the code itself sets (polls, health checks, schedules) are not
 * here: the model reads them from the code (frontend/src/logic/poll.ts, the provisioner's settings, the
 * desk configuration) or records them as the code sleeps.
 */

export type Basis = 'AWS documentation' | 'measurement' | 'estimate' | 'this repository';

export interface Figure {
  readonly seconds: number;
  readonly basis: Basis;
  /** Where the figure comes from (a document, an article, a file of this repository). */
  readonly source: string;
  /** How the source became this number, and what it includes. */
  readonly reasoning: string;
}

const figure = (seconds: number, basis: Basis, source: string, reasoning: string): Figure => ({ seconds, basis, source, reasoning });

/**
 * Per AWS API call, from a Lambda function in the same region (keep-alive HTTPS), by `<Service> <Operation>`;
 * `<Service> *` is the figure for that service's other operations.
 */
export const API_CALLS = {
  'DynamoDB *': figure(
    0.005,
    'AWS documentation',
    'Amazon DynamoDB product page and developer guide: "consistent single-digit millisecond response times at any scale"',
    'GetItem, PutItem, UpdateItem and Query on small items, one partition, in-region; 5 ms is the middle of "single-digit".',
  ),
  'KMS Sign': figure(
    0.02,
    'estimate',
    'AWS KMS publishes request quotas, not latencies',
    'An asymmetric ECC_NIST_P256 signature made inside KMS, one regional HTTPS round trip; 10-30 ms is what such calls commonly take in-region.',
  ),
  'KMS GetPublicKey': figure(0.015, 'estimate', 'as KMS Sign', 'A read of the key metadata and public key; no signing.'),
  'EC2 RunInstances': figure(
    1.5,
    'measurement',
    'Colin Percival, "EC2 boot time benchmarking" (daemonology.net, 2021-08-12), ec2-boot-bench: "RunInstances API call took: 1.543152 s"',
    'A direct API client (no CLI start-up). brevdev/ec2-coldboot-research (2026) saw 4.8 s, but through the AWS CLI, whose own start-up is inside that figure.',
  ),
  'EC2 StartInstances': figure(
    1.0,
    'measurement',
    'brevdev/ec2-coldboot-research docs/start-stopped-results.md (2026, m7i.large, AL2023): start-instances returned in 1.76 s',
    'Measured through the AWS CLI, which made RunInstances 3.3 s slower than Percival\'s direct client; StartInstances has less to validate than RunInstances, so 1.0 s.',
  ),
  'EC2 *': figure(
    0.2,
    'estimate',
    'EC2 publishes no API latencies',
    'DescribeInstances (one instance or a filtered page), CreateTags, GetConsoleOutput: EC2 control-plane calls that read or write metadata, typically 100-300 ms.',
  ),
  'EFS CreateAccessPoint': figure(0.2, 'estimate', 'EFS publishes no API latencies', 'A control-plane write that answers at once (the access point is `creating`, usable within seconds, long before a mount).'),
  'ECS RunTask': figure(0.5, 'estimate', 'ECS publishes no API latencies', 'Places the task (it answers PROVISIONING); more work than a describe call.'),
  'ECS *': figure(0.15, 'estimate', 'ECS publishes no API latencies', 'DescribeTaskDefinition, RegisterTaskDefinition, DescribeTasks, ListTasks: control-plane metadata calls.'),
  'IAM *': figure(
    0.3,
    'estimate',
    'IAM publishes no API latencies',
    'CreateRole, PutRolePolicy, GetRole (once per home): IAM is a global control plane served from us-east-1, so a cross-region round trip is included.',
  ),
  'STS GetCallerIdentity': figure(
    0.03,
    'estimate',
    'AWS STS publishes no API latencies',
    'The Fargate bootstrap route forwards the task\'s signed request to the regional STS endpoint; the call needs no IAM permission and reads no policy.',
  ),
  'Route 53 *': figure(
    0.15,
    'estimate',
    'Route 53 publishes no API latencies',
    'ChangeResourceRecordSets answers PENDING at once; ListResourceRecordSets is a read. Route 53 is a global API served from us-east-1, so a cross-region round trip is included.',
  ),
  'Lambda Invoke': figure(0.03, 'estimate', 'AWS Lambda developer guide, asynchronous invocation', 'InvocationType Event answers 202 as soon as the event is queued.'),
  'Secrets Manager GetSecretValue': figure(0.03, 'estimate', 'Secrets Manager publishes no API latencies', 'A small secret read in-region.'),
} as const satisfies Record<string, Figure>;

/** Waits that are not AWS API calls. */
export const WAITS = {
  browserRoundTrip: figure(
    0.08,
    'estimate',
    'API Gateway HTTP API; a researcher on a university or home network near the region',
    'One HTTPS round trip from the browser (~50 ms on a reused connection) plus API Gateway\'s own overhead (~10-30 ms) per desk request.',
  ),
  lambdaColdDesk: figure(
    0.6,
    'AWS documentation',
    'AWS Compute Blog, "Operating Lambda: Performance optimization, Part 1" (2021): cold starts occur in under 1% of invocations and take "from under 100 ms to over 1 second"',
    'A Node.js function bundled by esbuild with the SDK v3 clients, zod and jose: environment, runtime start and module initialization, in the middle of the documented range. Assumed for functions a researcher rarely invokes (open, compute events).',
  ),
  lambdaColdProvisioner: figure(
    0.9,
    'AWS documentation',
    'As lambdaColdDesk; AWS Compute Blog, "Announcing improved VPC networking for AWS Lambda functions" (2019): VPC functions no longer create an ENI per cold start',
    'A larger bundle (ssh2, node-ssh) in the VPC: more to load than the desk functions, no ENI creation on the invocation path.',
  ),
  lambdaWarm: figure(0.01, 'estimate', 'AWS Lambda invocation model', 'Routing an invocation to an existing execution environment.'),
  lambdaAsyncQueue: figure(
    0.2,
    'estimate',
    'AWS Lambda developer guide, asynchronous invocation: events are queued and a poller invokes the function',
    'From the 202 of InvocationType Event to the function starting, without a backlog; no published figure.',
  ),
  eventBridgeDelivery: figure(
    0.5,
    'estimate',
    'Amazon EventBridge user guide: AWS service events are delivered "on a best-effort basis" "in near real time"; PostNL Engineering, "Improved EventBridge Latency Opens Up New Use Cases at PostNL" (2023)',
    'From the state change to the rule target (Lambda) being invoked; AWS gives no typical figure. Sub-second after the 2023 improvements PostNL reported.',
  ),
  ec2PendingToRunning: figure(
    5.0,
    'measurement',
    'Colin Percival, ec2-boot-bench (2021, c5.xlarge): "Moving from pending to running took: 4.904754 s"',
    'Percival polls precisely. brevdev (2026) reports 16-18 s for this phase, but measured it with `aws ec2 wait instance-running`, which polls every 15 s: an upper bound, not a value.',
  ),
  ec2BootFresh: figure(
    16.0,
    'measurement',
    'brevdev/ec2-coldboot-research docs/cold-baseline-results.md (2026, m7i.large, Amazon Linux 2023): RunInstances returned → SSH answering in 21.0 s (25.8 s total − 4.8 s API)',
    'Running → sshd up and cloud-init printing the host key fingerprints on the console (its keys-to-console step runs as sshd starts) = 21.0 s − 5.0 s pending→running. A fresh volume from the image: every block read the first time comes from the snapshot.',
  ),
  ec2BootResume: figure(
    14.4,
    'measurement',
    'brevdev/ec2-coldboot-research docs/start-stopped-results.md (2026, m7i.large, AL2023): StartInstances returned → SSH answering in 19.4 s (21.2 s total − 1.8 s API); hibernation measured 18.7 s',
    'Running → sshd up and the image\'s carrel-host-keys unit printing the fingerprints = 19.4 s − 5.0 s pending→running. Hibernation saves ~0.5 s there.',
  ),
  sshConnect: figure(0.3, 'estimate', 'OpenSSH over the VPC (sub-millisecond round trips)', 'TCP, key exchange, host key check and public-key authentication; dominated by crypto and sshd\'s session set-up.'),
  sftpUpload: figure(0.3, 'estimate', 'the provisioner uploads provision.sh, the gate bundle (~1 MB), its environment, certificate, key and the project template', 'A few files over one SFTP channel in the VPC, each chmod-ed.'),
  scriptUser: figure(0.1, 'estimate', 'assets/provision/provision.sh step 1', 'getent, and on first use groupadd/useradd.'),
  efsMountTls: figure(
    1.5,
    'estimate',
    'amazon-efs-utils (`mount -t efs -o tls,iam,accesspoint=...`): starts a stunnel TLS tunnel, then an NFSv4.1 mount with IAM authorization',
    'No published figure; a TLS tunnel start, an IAM-authorized NFS mount and the access point\'s root directory lookup. Also on every resume: the mount does not survive the stop.',
  ),
  projectFill: figure(0.5, 'estimate', 'assets/provision/provision.sh step 3 (first use only)', 'Copies the small template into EFS as the researcher, writes the data API key, git init and remote: many small NFS writes (a few ms each).'),
  gateFiles: figure(0.1, 'estimate', 'assets/provision/provision.sh step 4', 'Compares and writes a few small files as root.'),
  systemdRestart: figure(0.5, 'estimate', 'assets/provision/provision.sh step 5', 'daemon-reload when units changed, then (re)start carrel-gate (Node) and carrel-tool (Jupyter): the start jobs themselves, not the tool becoming ready.'),
  jupyterStartFreshVolume: figure(
    6.0,
    'estimate',
    'docs/design brief: jupyter-notebook starts in ~0.7 s (warm page cache); AWS EBS user guide, "Initialize Amazon EBS volumes": blocks of a volume created from a snapshot are fetched from S3 on first access, with "a significant increase in the latency of I/O operations"',
    'Python and Jupyter read thousands of files the first time on a volume freshly restored from the image; ~8× the warm-cache figure. Fast snapshot restore on the image would remove most of it.',
  ),
  jupyterStartWarmVolume: figure(
    2.0,
    'estimate',
    'docs/design brief: ~0.7 s with a warm page cache',
    'After a stop the page cache is empty but the volume\'s blocks are already local: ~3× the warm figure on a small burstable instance.',
  ),
  route53InSync: figure(
    30,
    'measurement',
    'Route 53 FAQ: changes propagate to all authoritative servers "within 60 seconds under normal conditions" (INSYNC); reports: 5-10 s (barnybug/cli53#2, 2010), 10-30 s (openshift/verification-tests#1630, 2020), ~40 s (saltstack/salt#44947, 2017), 60-120 s (libdns/route53#14, 2022)',
    'A typical INSYNC time in the middle of the reports, inside AWS\'s 60 s design bound (the report also shows the total with 60 s). A resolver that asks an authoritative server before it has the new name caches NXDOMAIN for the zone\'s negative TTL (Route 53\'s default SOA: up to 900 s), so the tool is reachable for sure only once the change is INSYNC.',
  ),
  browserToolLoad: figure(
    0.3,
    'estimate',
    'the iframe\'s first request to https://ws-<label>.<desk domain>/ through the gate',
    'A recursive DNS lookup of a name never cached, a TLS handshake with the gate and Jupyter\'s first page proxied by it.',
  ),
  fargateProvisioning: figure(
    8,
    'estimate',
    'Amazon ECS best practices guide, "Optimize task launch time": awsvpc "adds an overhead of several seconds" (provisioning and attaching the ENI)',
    'PROVISIONING on Fargate: capacity placement and the task\'s network interface. "Several seconds" for the ENI plus placement; cross-check: Vlad Ionescu, "Scaling containers on AWS in 2022", saw ECS on Fargate start containers ~30 s after a scaling request (image pull and service scheduling included).',
  ),
  fargateImagePull: figure(
    12,
    'estimate',
    'AWS News Blog, "AWS Fargate Enables Faster Container Startup using Seekable OCI" (2023): image downloads are 76% of container start time (Harter et al., Slacker, FAST \'16); Fargate caches no images',
    'PENDING: pull and unpack the tool image (Jupyter with its scientific stack, several hundred MB compressed) and the small gate image, every launch.',
  ),
  fargateMountAndStart: figure(2, 'estimate', 'ECS task EFS volume with transitEncryption and IAM authorization', 'The EFS mount through the access point (TLS) and the start of the first container (the bootstrap step).'),
  fargateBootstrapStart: figure(
    0.5,
    'estimate',
    'assets/gate/bootstrap.ts (the gate bundle in bootstrap mode)',
    'node loads the gate bundle, reads the task role credentials from the ECS credentials endpoint (169.254.170.2) and signs GetCallerIdentity: local work.',
  ),
  taskToDesk: figure(
    0.05,
    'estimate',
    'one HTTPS request from the workspace VPC (NAT) to the desk (CloudFront, API Gateway), one way',
    'In-region network plus the CloudFront and API Gateway hops; the same figure back.',
  ),
  fargateContainersStart: figure(
    0.5,
    'estimate',
    'ECS container dependencies: gate and tool wait for bootstrap SUCCESS',
    'The agent sees the bootstrap container exit 0 and starts the gate and tool containers (images already unpacked); ECS then reports RUNNING.',
  ),
  jupyterStartFargate: figure(3, 'estimate', 'docs/design brief: ~0.7 s with a warm page cache', 'The image was just unpacked on the task\'s storage; a 1-vCPU task. Hidden behind the first health check anyway (next figure).'),
  ecsReadyContainer: figure(
    1,
    'estimate',
    'lambdas/adapters/aws/compute-event-mapping.ts: the non-essential `ready` container depends on `gate` HEALTHY and exits 0; its exit is the tool-ready event',
    'The agent notices HEALTHY, starts the tiny container (image pulled during PENDING), it exits, ECS emits the task state change.',
  ),
} as const satisfies Record<string, Figure>;

export type WaitName = keyof typeof WAITS;

/** Intervals set by this repository that the model cannot read from code at run time (CDK construct defaults). */
export const CONFIGURED = {
  ecsHealthCheckIntervalSeconds: figure(
    10,
    'this repository',
    'lib/constructs/workspace-compute.ts: gate container healthCheck interval 10 s (timeout 5 s, startPeriod 60 s)',
    'Docker runs the first check `interval` after the container starts; the gate answers 200 only once Jupyter does, so the first HEALTHY is 10 s after RUNNING when Jupyter starts faster than that.',
  ),
  housekeepingRateSeconds: figure(60, 'this repository', 'lib/constructs/desk-schedules.ts: housekeepingRate default Duration.minutes(1)', 'One housekeeping pass a minute.'),
} as const satisfies Record<string, Figure>;

/** The latency of one API call: `<Service> <Operation>`, else `<Service> *`. */
export function apiCallFigure(service: string, operation: string): { readonly key: string; readonly figure: Figure } {
  const table = API_CALLS as Readonly<Record<string, Figure>>;
  const exact = `${service} ${operation}`;
  if (table[exact]) return { key: exact, figure: table[exact] };
  const fallback = `${service} *`;
  if (table[fallback]) return { key: fallback, figure: table[fallback] };
  throw new Error(`aws-latencies.ts has no figure for ${exact} (add "${exact}" or "${fallback}")`);
}

/** The table as Markdown (the copy in docs/aws-latency-model.md is this output). */
export function latencyTableMarkdown(): string {
  const rows: string[] = ['| figure | seconds | basis | source | reasoning |', '|---|---:|---|---|---|'];
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  for (const [group, table] of [
    ['API call', API_CALLS],
    ['wait', WAITS],
    ['configured', CONFIGURED],
  ] as const) {
    for (const [name, f] of Object.entries(table as Readonly<Record<string, Figure>>)) {
      rows.push(`| ${group}: \`${name}\` | ${f.seconds} | ${f.basis} | ${cell(f.source)} | ${cell(f.reasoning)} |`);
    }
  }
  return `${rows.join('\n')}\n`;
}
