/* sessions.c: not built yet. */
#include "handlers.h"
#include "problem.h"

int
handle_sessions_create(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_sessions_list(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_sessions_get(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_sessions_kill(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_sessions_primary_get(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_sessions_primary_post(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_sessions_lock_post(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_sessions_lock_delete(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}
