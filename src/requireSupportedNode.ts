/**
 * Imported first by the CLI and the dev stack, for its effect: exits with a clear message on a
 * Node.js older than the bridge needs, before any dependency is loaded.
 */
import { exitUnlessSupportedNode } from "./nodeVersion";

exitUnlessSupportedNode();
