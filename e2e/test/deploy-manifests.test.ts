import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '@tidewatch/testing';
import Ajv from 'ajv';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

const CHART = join(REPO_ROOT, 'deploy/helm/tidewatch');
const PROD_VALUES = join(REPO_ROOT, 'deploy/helm/values-production.yaml');

function helmBinary(): string {
  const candidates = [
    process.env['HELM_BIN'],
    join(homedir(), 'go/bin/helm'),
    '/usr/local/bin/helm',
    '/usr/bin/helm',
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new Error('helm not found: scripts/system-deps.sh installs it (go install helm.sh/helm/v3/cmd/helm)');
}

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
} & Record<string, unknown>;

function render(args: string[]): Manifest[] {
  const out = execFileSync(
    helmBinary(),
    ['template', 'tw', CHART, '--namespace', 'security', '--kube-version', '1.31.0', ...args],
    { encoding: 'utf8' },
  );
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

/** Validates each manifest against the Kubernetes (and KEDA / Prometheus Operator) OpenAPI schemas, offline. */
async function validateAgainstSchemas(manifests: Manifest[]): Promise<void> {
  const groups: Record<string, () => Promise<Record<string, unknown>>> = {
    'apps/v1': () => import('kubernetes-models/apps/v1'),
    v1: () => import('kubernetes-models/v1'),
    'policy/v1': () => import('kubernetes-models/policy/v1'),
    'autoscaling/v2': () => import('kubernetes-models/autoscaling/v2'),
    'networking.k8s.io/v1': () => import('kubernetes-models/networking.k8s.io/v1'),
    'keda.sh/v1alpha1': () => import('@kubernetes-models/keda/keda.sh/v1alpha1'),
    'monitoring.coreos.com/v1': () =>
      import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'),
  };
  for (const m of manifests) {
    const load = groups[m.apiVersion];
    assert.ok(load, `no schema for ${m.apiVersion} (${m.kind} ${m.metadata.name})`);
    const Model = (await load())[m.kind] as (new (data: unknown) => { validate(): void }) | undefined;
    assert.ok(Model, `no schema for ${m.apiVersion} ${m.kind}`);
    try {
      new Model(m).validate();
    } catch (err) {
      assert.fail(`${m.kind} ${m.metadata.name} does not match its schema: ${String(err)}`);
    }
  }
}

const byKind = (ms: Manifest[], kind: string) => ms.filter((m) => m.kind === kind);
type PodSpec = {
  securityContext: Record<string, unknown>;
  containers: {
    name: string;
    securityContext: Record<string, unknown>;
    resources: { limits?: Record<string, unknown> };
    env?: { name: string; value?: string; valueFrom?: unknown }[];
    startupProbe?: unknown;
  }[];
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
};
const podSpec = (m: Manifest) => (m.spec as { template: { spec: PodSpec } }).template.spec;

describe('Helm chart', () => {
  it('passes helm lint with the default and the production values', () => {
    execFileSync(helmBinary(), ['lint', '--strict', CHART], { encoding: 'utf8' });
    execFileSync(helmBinary(), ['lint', '--strict', CHART, '-f', PROD_VALUES], { encoding: 'utf8' });
  });

  it('rejects values that break values.schema.json, naming the field', () => {
    const r = spawnSync(
      helmBinary(),
      ['template', 'tw', CHART, '--set', 'collector.ports.netflow=not-a-port'],
      { encoding: 'utf8' },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /collector.*netflow/);
    const typo = spawnSync(helmBinary(), ['template', 'tw', CHART, '--set', 'inferense.replicas=3'], {
      encoding: 'utf8',
    });
    assert.notEqual(typo.status, 0);
    assert.match(typo.stderr, /inferense/);
  });

  it('renders default manifests that match the Kubernetes schemas and a restricted security profile', async () => {
    const ms = render([]);
    await validateAgainstSchemas(ms);
    const deployments = byKind(ms, 'Deployment');
    assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), [
      'tw-tidewatch-collector',
      'tw-tidewatch-inference',
      'tw-tidewatch-query-api',
      'tw-tidewatch-sequencer',
    ]);
    for (const d of deployments) {
      const spec = podSpec(d);
      assert.equal(spec.securityContext['runAsNonRoot'], true, d.metadata.name);
      for (const c of spec.containers) {
        assert.equal(c.securityContext['readOnlyRootFilesystem'], true);
        assert.equal(c.securityContext['allowPrivilegeEscalation'], false);
        assert.deepEqual((c.securityContext['capabilities'] as { drop: string[] }).drop, ['ALL']);
        assert.ok(c.startupProbe, `${d.metadata.name} has a startup probe`);
      }
    }
    const flows = ms.find((m) => m.kind === 'Service' && m.metadata.name === 'tw-tidewatch-collector-flows');
    assert.equal(flows?.spec?.['externalTrafficPolicy'], 'Local');
    assert.deepEqual(
      ((flows?.spec?.['ports'] ?? []) as { protocol: string }[]).map((p) => p.protocol),
      ['UDP', 'UDP', 'TCP', 'UDP'],
    );
    assert.equal(byKind(ms, 'PodDisruptionBudget').length, 4);
    assert.deepEqual(
      byKind(ms, 'HorizontalPodAutoscaler')
        .map((h) => h.metadata.name)
        .sort(),
      ['tw-tidewatch-inference', 'tw-tidewatch-sequencer'],
    );
    assert.equal(byKind(ms, 'ScaledObject').length, 0, 'KEDA objects only when asked for and installed');
    assert.ok(byKind(ms, 'NetworkPolicy').length >= 3);
  });

  it('renders the production values with KEDA, GPU inference, monitoring and secrets only by reference', async () => {
    const ms = render([
      '-f',
      PROD_VALUES,
      '--api-versions',
      'keda.sh/v1alpha1',
      '--api-versions',
      'monitoring.coreos.com/v1',
    ]);
    await validateAgainstSchemas(ms);
    assert.deepEqual(
      byKind(ms, 'ScaledObject')
        .map((s) => s.metadata.name)
        .sort(),
      ['tw-tidewatch-inference', 'tw-tidewatch-sequencer'],
    );
    assert.equal(byKind(ms, 'HorizontalPodAutoscaler').length, 0);
    const inference = podSpec(
      byKind(ms, 'Deployment').find((d) => d.metadata.name.endsWith('inference')) as Manifest,
    );
    assert.equal(inference.containers[0]?.resources.limits?.['nvidia.com/gpu'], '1');
    assert.equal(inference.nodeSelector?.['nvidia.com/gpu.present'], 'true');
    assert.ok(inference.tolerations?.length);
    assert.equal(byKind(ms, 'ServiceMonitor').length, 1);
    assert.equal(byKind(ms, 'PrometheusRule').length, 1);
    assert.ok(byKind(ms, 'ConfigMap').some((c) => c.metadata.name.includes('dashboard')));
    assert.equal(byKind(ms, 'Secret').length, 0, 'the chart never renders credentials');
    for (const d of byKind(ms, 'Deployment')) {
      for (const e of podSpec(d).containers[0]?.env ?? []) {
        if (/PASSWORD|KEY|SECRET|TOKEN/.test(e.name))
          assert.ok(e.valueFrom, `${d.metadata.name} ${e.name} comes from a Secret`);
      }
      if (d.metadata.name.endsWith('redis')) continue;
      const redis = podSpec(d).containers[0]?.env?.find((e) => e.name === 'REDIS_URL');
      assert.ok(redis?.valueFrom, 'REDIS_URL (may hold a password) comes from the Secret');
    }
  });

  it('bundles Kafka, Redis and Qdrant only when asked', async () => {
    const ms = render([
      '--set',
      'bundled.kafka.enabled=true,bundled.redis.enabled=true,bundled.qdrant.enabled=true',
    ]);
    await validateAgainstSchemas(ms);
    assert.deepEqual(
      byKind(ms, 'StatefulSet')
        .map((s) => s.metadata.name)
        .sort(),
      ['tw-tidewatch-kafka', 'tw-tidewatch-qdrant', 'tw-tidewatch-redis'],
    );
  });
});

describe('docker-compose.yml', () => {
  it('parses and matches the Compose specification', async () => {
    const doc = parseYaml(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { volumes?: string[]; build?: { target: string } }>;
    };
    const schemaPath = join(REPO_ROOT, 'e2e/node_modules/dclint/schemas/compose.schema.json');
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
    delete schema.$schema;
    delete schema.id; // draft-04 style id; ajv wants $id
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const valid = ajv.validate(schema, doc);
    assert.ok(valid, ajv.errorsText(ajv.errors));
    assert.deepEqual(Object.keys(doc.services).sort(), [
      'collector',
      'grafana',
      'inference',
      'kafka',
      'prometheus',
      'qdrant',
      'query-api',
      'redis',
      'sequencer',
    ]);
    for (const [name, svc] of Object.entries(doc.services)) {
      if (svc.build)
        assert.match(
          readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'),
          new RegExp(`AS ${svc.build.target}\\b`),
          `${name}'s build target exists`,
        );
      for (const v of svc.volumes ?? []) {
        const host = v.split(':')[0] as string;
        if (host.startsWith('./'))
          assert.ok(existsSync(join(REPO_ROOT, host)), `${name} mounts ${host}, which exists`);
      }
    }
    const dashboards = readdirSync(join(REPO_ROOT, 'deploy/helm/tidewatch/files/dashboards'));
    assert.ok(dashboards.length > 0);
  });
});
