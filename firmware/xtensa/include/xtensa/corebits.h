/* Included by the core's exception wrapper, which uses none of its bit names. */
