/* auth.c: not built yet. */
#include "handlers.h"
#include "problem.h"

int
handle_auth_register(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_auth_login(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_auth_refresh(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_auth_logout(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
auth_request(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 401, "INVALID_TOKEN", "not implemented yet");
}
