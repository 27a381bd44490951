DROP INDEX `users_username_uq`;--> statement-breakpoint
DROP INDEX `users_email_uq`;--> statement-breakpoint
CREATE UNIQUE INDEX `users_username_uq` ON `users` (lower("username"));--> statement-breakpoint
CREATE UNIQUE INDEX `users_email_uq` ON `users` (lower("email"));