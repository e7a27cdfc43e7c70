/**
 * The real bridge CLI as a child process, for e2e tests. The implementation lives in scripts/lib so that the dev
 * stack (`npm run dev`) uses the same spawn-and-wait-for-health logic without importing from spec/.
 */
export { type BridgeExit, BridgeProcess, type BridgeStartOptions } from "../../scripts/lib/bridgeProcess";
