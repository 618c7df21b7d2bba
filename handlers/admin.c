/* admin.c: not built yet. */
#include "handlers.h"
#include "problem.h"

int
handle_admin_stats(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_metrics(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}
