// Interop check: the official TypeScript MCP client (@modelcontextprotocol/sdk, the one many
// IDEs embed) drives `python -m nexla_mcp --sandbox` over stdio, exactly as a host would.
//
// Usage: node tests/interop/ts_client.mjs [PYTHON]   (PYTHON defaults to python3)
//
// Prints one JSON line to stdout: {"ok": bool, "failures": [...], ...what each step saw}.
// Exits 0 only when every check passed. The server's stderr is kept and its tail reported on
// failure, so a crash is readable from the summary alone.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const PYTHON = process.argv[2] ?? 'python3';
// Read from the installed package itself (the SDK's exports map hides its package.json).
const SDK_VERSION = JSON.parse(
  readFileSync(resolve(HERE, 'node_modules/@modelcontextprotocol/sdk/package.json'), 'utf8'),
).version;
const ANNOTATIONS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'];

const summary = { ok: false, sdk_version: SDK_VERSION, failures: [] };

function check(condition, what) {
  if (!condition) summary.failures.push(what);
  return Boolean(condition);
}

// Counts every structuredContent validation the SDK performs, so a passing call proves the
// SDK really checked it against the outputSchema (callTool skips the check silently for a
// tool it has no cached validator for, e.g. before listTools).
class CountingValidator {
  constructor() {
    this.inner = new AjvJsonSchemaValidator();
    this.runs = [];
  }

  getValidator(schema) {
    const validate = this.inner.getValidator(schema);
    return (input) => {
      const outcome = validate(input);
      this.runs.push(outcome.valid);
      return outcome;
    };
  }
}

// The stdio transport has no protocol-version hook of its own; the client calls this one
// after initialize when it exists, which records what was negotiated.
class RecordingStdioTransport extends StdioClientTransport {
  setProtocolVersion(version) {
    this.protocolVersion = version;
  }
}

const validator = new CountingValidator();
const client = new Client(
  { name: 'nexla-mcp-interop', version: '0.0.0' },
  { jsonSchemaValidator: validator },
);
const transport = new RecordingStdioTransport({
  command: PYTHON,
  args: ['-m', 'nexla_mcp', '--sandbox', '--profile', 'all'],
  cwd: REPO,
  // The SDK passes the server only a safe default environment; keep the test's state
  // directory, so the server's tool-list cache stays out of the developer's own.
  env: {
    ...getDefaultEnvironment(),
    ...(process.env.NEXLA_MCP_STATE_DIR
      ? { NEXLA_MCP_STATE_DIR: process.env.NEXLA_MCP_STATE_DIR }
      : {}),
  },
  stderr: 'pipe',
});
let serverStderr = '';
transport.stderr?.on('data', (chunk) => {
  serverStderr = (serverStderr + chunk.toString()).slice(-4000);
});

function errorEnvelope(result) {
  const text = result.content?.find((part) => part.type === 'text')?.text ?? '';
  try {
    return JSON.parse(text).error ?? null;
  } catch {
    return null;
  }
}

// A tool call that must succeed, with its structuredContent validated exactly once, and valid.
async function callValidated(name, args) {
  const before = validator.runs.length;
  const result = await client.callTool({ name, arguments: args });
  const runs = validator.runs.slice(before);
  const validated = runs.length === 1 && runs[0] === true;
  check(!result.isError, `${name}: isError ${JSON.stringify(result.content)}`);
  check(validated, `${name}: structuredContent validations ${JSON.stringify(runs)}`);
  return { result, validated };
}

// A tool call that must fail as a tool error: no throw, isError, the JSON envelope, no
// structuredContent (which the SDK would validate against the outputSchema and reject).
async function callFailing(name, args) {
  const seen = { threw: false, is_error: false, has_structured_content: false, envelope: null };
  try {
    const result = await client.callTool({ name, arguments: args });
    seen.is_error = result.isError === true;
    seen.has_structured_content = 'structuredContent' in result;
    seen.envelope = errorEnvelope(result);
  } catch (error) {
    seen.threw = true;
    seen.thrown = String(error?.message ?? error);
  }
  check(!seen.threw, `${name}: the SDK threw ${seen.thrown}`);
  check(seen.is_error, `${name}: not isError`);
  check(!seen.has_structured_content, `${name}: error result carries structuredContent`);
  check(seen.envelope !== null, `${name}: text is not a {"error": {...}} envelope`);
  return seen;
}

async function checkTools() {
  const { tools } = await client.listTools();
  const missingSchema = tools.filter((tool) => !tool.outputSchema).map((tool) => tool.name);
  const missingAnnotations = tools
    .filter((tool) => !ANNOTATIONS.every((hint) => typeof tool.annotations?.[hint] === 'boolean'))
    .map((tool) => tool.name);
  const validators = tools.filter((tool) => client.getToolOutputValidator(tool.name)).length;
  check(tools.length > 0, 'tools/list is empty');
  check(missingSchema.length === 0, `tools without outputSchema: ${missingSchema}`);
  check(missingAnnotations.length === 0, `tools missing annotations: ${missingAnnotations}`);
  check(validators === tools.length, `SDK cached ${validators} validators for ${tools.length}`);
  summary.tools = {
    count: tools.length,
    names: tools.map((tool) => tool.name),
    without_output_schema: missingSchema,
    without_all_annotations: missingAnnotations,
    sdk_validators: validators,
  };
  return tools;
}

// The negative control: the same call against a deliberately wrong outputSchema (examined
// declared a string) must be rejected by the SDK, or the validations counted above prove
// nothing.
async function checkValidationRejectsAMismatch(tools) {
  const broken = tools.map((tool) => {
    if (tool.name !== 'list_flows') return tool;
    const schema = structuredClone(tool.outputSchema);
    schema.properties.examined = { type: 'string' };
    return { ...tool, outputSchema: schema };
  });
  client.cacheToolMetadata(broken);
  let rejection = null;
  try {
    await client.callTool({ name: 'list_flows', arguments: { limit: 1 } });
  } catch (error) {
    rejection = String(error?.message ?? error);
  } finally {
    client.cacheToolMetadata(tools);
  }
  check(
    rejection?.includes("does not match the tool's output schema"),
    `a wrong outputSchema was not rejected: ${rejection}`,
  );
  summary.broken_schema_rejected = rejection;
}

async function checkFlowCalls() {
  const listed = await callValidated('list_flows', { has_recent_errors: true });
  const flows = listed.result.structuredContent?.flows ?? [];
  check(flows.length > 0, 'list_flows has_recent_errors=true returned no flows');
  summary.list_flows = {
    validated: listed.validated,
    flow_ids: flows.map((flow) => flow.flow_id),
    health: flows.map((flow) => flow.health),
  };
  const flowId = flows[0]?.flow_id;
  if (flowId === undefined) return undefined;

  const flow = await callValidated('get_flow', { flow_id: flowId });
  check(flow.result.structuredContent?.flow_id === flowId, 'get_flow answered another flow');
  summary.get_flow = {
    validated: flow.validated,
    flow_id: flow.result.structuredContent?.flow_id,
    health: flow.result.structuredContent?.runs?.health,
  };

  const diagnosis = await callValidated('diagnose_flow', { flow_id: flowId });
  summary.diagnose_flow = {
    validated: diagnosis.validated,
    category: diagnosis.result.structuredContent?.category,
    evidence: diagnosis.result.structuredContent?.evidence?.length ?? 0,
  };
  return flowId;
}

async function checkErrorCalls() {
  const missing = await callFailing('get_flow', { flow_id: 987654321 });
  check(missing.envelope?.type === 'NotFoundError', `unknown flow: ${missing.envelope?.type}`);
  const { envelope, ...outcome } = missing;
  summary.not_found = { ...outcome, type: envelope?.type };

  // A value the input schema forbids, and a misspelt filter name: each envelope names it.
  const outOfRange = await callFailing('list_flows', { limit: 0 });
  const misspelt = await callFailing('list_flows', { has_recent_error: true });
  summary.bad_arguments = [outOfRange, misspelt].map((seen) => ({
    threw: seen.threw,
    is_error: seen.is_error,
    has_structured_content: seen.has_structured_content,
    type: seen.envelope?.type,
    arguments: (seen.envelope?.details?.errors ?? []).map((problem) => problem.argument),
  }));
  for (const [index, argument] of [
    [0, 'limit'],
    [1, 'has_recent_error'],
  ]) {
    const seen = summary.bad_arguments[index];
    check(seen.type === 'InvalidArgumentsError', `${argument}: envelope type ${seen.type}`);
    check(seen.arguments.includes(argument), `${argument}: not named, got ${seen.arguments}`);
  }
}

async function checkPrompts(flowId) {
  const { prompts } = await client.listPrompts();
  const names = prompts.map((prompt) => prompt.name);
  check(names.includes('troubleshoot_flow'), `prompts/list lacks troubleshoot_flow: ${names}`);
  summary.prompts = { names };
  if (flowId === undefined) return;
  const rendered = await client.getPrompt({
    name: 'troubleshoot_flow',
    arguments: { flow_id: String(flowId), symptom: 'records stopped arriving' },
  });
  const text = rendered.messages
    .map((message) => (message.content.type === 'text' ? message.content.text : ''))
    .join('\n');
  check(text.includes(String(flowId)), 'troubleshoot_flow does not mention the flow id');
  check(text.includes('diagnose_flow'), 'troubleshoot_flow does not name diagnose_flow');
  summary.prompts.troubleshoot_flow = {
    messages: rendered.messages.length,
    mentions_flow_id: text.includes(String(flowId)),
  };
}

async function main() {
  await client.connect(transport);
  summary.protocol_version = transport.protocolVersion;
  summary.server = client.getServerVersion();
  const tools = await checkTools();
  const flowId = await checkFlowCalls();
  await checkValidationRejectsAMismatch(tools);
  await checkErrorCalls();
  await checkPrompts(flowId);
  summary.validations = {
    passed: validator.runs.filter(Boolean).length,
    failed: validator.runs.filter((valid) => !valid).length,
  };
}

let exitCode = 1;
try {
  await main();
  exitCode = summary.failures.length === 0 ? 0 : 1;
} catch (error) {
  summary.failures.push(`unexpected: ${error?.stack ?? error}`);
} finally {
  await client.close().catch(() => {});
  summary.ok = exitCode === 0;
  if (!summary.ok) summary.server_stderr_tail = serverStderr.slice(-1500);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = exitCode;
}
