"""Use cases: one async function per thing a user does (post, edit, react, read...).

An action is the only place its rules, its store writes, its hub publishes and
its notifications live. Callers only adapt: a WebSocket handler or a REST view
parses its input, calls the action with the acting user and `ActionDeps`, and
answers; admin, moderation, bot and plugin features call the same functions.

Actions take no aiohttp request or connection. They refuse with
`chatd.errors.Refused` subclasses (the router turns them into `error` frames,
the REST middleware into statuses). Room membership is the caller's to state
(`Membership`): the frame router has already checked it against the socket's
room set, other callers have the action check it in the store.
"""
