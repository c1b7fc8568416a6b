import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createApp } from '../app.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { createMcpServer } from './server.ts';

/**
 * The MCP server over stdio for a local assistant: `TIDEWATCH_API_KEY=<key> tsx src/mcp/stdio.ts`.
 * The key decides which tools work (write tools need the write scope). stdout carries the
 * protocol only; diagnostics go to stderr.
 */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`tidewatch-mcp: bad configuration: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const key = process.env['TIDEWATCH_API_KEY'];
  if (!key) {
    console.error('tidewatch-mcp: TIDEWATCH_API_KEY is required');
    process.exit(2);
  }
  const app = await createApp({ ...config, consumers: false }, { ui: false });
  await app.services.store.init();
  const principal = await app.services.keys.authenticate(key);
  if (!principal) {
    console.error('tidewatch-mcp: TIDEWATCH_API_KEY is not a valid key');
    process.exit(2);
  }
  const server = createMcpServer({ queries: app.services.queries, cases: app.services.cases }, principal);
  const transport = new StdioServerTransport();
  transport.onclose = () => {
    void app.stop().then(() => process.exit(0));
  };
  await server.connect(transport);
}

await main();
