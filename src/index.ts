import { ClusterPlugin } from './plugin/cluster-plugin';

/**
 * Kuzzle loads a plugin folder with `new (require(folder))()`, so the module
 * itself is the plugin class; `ClusterPlugin` and `default` are there for
 * `app.plugin.use(new ClusterPlugin(), …)` in a Backend script.
 */
const exported = Object.assign(ClusterPlugin, { ClusterPlugin, default: ClusterPlugin });
export = exported;
