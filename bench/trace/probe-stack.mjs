// The stack a trace script runs on, from dist/ (run `npm run build` first): a fresh
// Elasticsearch and NODES Kuzzle nodes behind their load balancer (NODES=1: one Kuzzle
// without the plugin). Node options for the Kuzzle processes go in KPC_KUZZLE_NODE_ARGS,
// set before calling.
const root = new URL('../../dist', import.meta.url).pathname;
const { Side } = await import(`${root}/bench/side.js`);
const { startElasticsearch } = await import(`${root}/test/harness/elasticsearch.js`);
const { newRunDir } = await import(`${root}/test/harness/run-dir.js`);

export async function startProbeStack(nodes) {
  const es = await startElasticsearch(newRunDir('probe-es'));
  const spec = nodes === 1 ? { name: 'p1', label: 'one', nodes: 1, plugin: undefined } : { name: `p${nodes}`, label: 'cluster', nodes, plugin: '.' };
  const side = await Side.start(spec, es.url, (message) => console.log(message));
  return {
    side,
    async stop() {
      await side.stop();
      await es.stop();
    },
  };
}
