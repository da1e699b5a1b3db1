/* Placeholder until the runtime exposes the API this benchmark needs. */
#error "not written yet: waits for the runtime API"
