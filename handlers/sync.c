/* sync.c: not built yet. */
#include "handlers.h"
#include "problem.h"

int
handle_sync_push(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_sync_pull(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_sync_stats(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_collections_list(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_records_get(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_export(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}
