-- A counter's value and remaining ms in one round trip (every hello reads one:
-- the token's revocation mark). A script, not a MULTI pipeline: redis-py builds
-- a Pipeline object per call, which cost more than the round trip itself.
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
