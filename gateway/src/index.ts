/**
 * @openigd/gateway — the daemon: links, router, DHCP, config, CLI, lab.
 */
export {};
