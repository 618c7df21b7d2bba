/* conflicts.c: not built yet. */
#include "handlers.h"
#include "problem.h"

int
handle_conflicts_list(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_conflicts_get(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_conflicts_resolve(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}
