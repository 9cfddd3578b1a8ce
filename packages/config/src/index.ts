/** Placeholder: this package is being built. */
export const PACKAGE_PENDING = true;
