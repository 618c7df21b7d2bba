/* devices.c: not built yet. */
#include "handlers.h"
#include "problem.h"

int
handle_devices_list(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_devices_patch(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_devices_delete(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}

int
handle_devices_heartbeat(struct req *req, struct resp *resp)
{
	(void)req;
	return problem(resp, 501, "NOT_IMPLEMENTED", "not implemented yet");
}
