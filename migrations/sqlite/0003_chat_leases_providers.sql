CREATE TABLE `conversations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`title` text(200) NOT NULL,
	`title_pending` integer DEFAULT true NOT NULL,
	`model` text(128),
	`api_id` integer,
	`system_prompt` text,
	`message_count` integer DEFAULT 0 NOT NULL,
	`token_used` integer DEFAULT 0 NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `conversations_user_updated_idx` ON `conversations` (`user_id`,`updated_at`);--> statement-breakpoint
CREATE TABLE `messages` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`conversation_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`role` text(16) NOT NULL,
	`content` text NOT NULL,
	`model` text(128),
	`prompt_tokens` integer DEFAULT 0 NOT NULL,
	`completion_tokens` integer DEFAULT 0 NOT NULL,
	`status` text(16) DEFAULT 'complete' NOT NULL,
	`clear_context` integer DEFAULT false NOT NULL,
	`error` text(1024),
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `messages_conversation_idx` ON `messages` (`conversation_id`,`id`);--> statement-breakpoint
CREATE TABLE `personal_apis` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`name` text(100) NOT NULL,
	`type` text(16) DEFAULT 'openai' NOT NULL,
	`base_url` text(512) NOT NULL,
	`key_encrypted` text NOT NULL,
	`key_mask` text(32) NOT NULL,
	`model` text(128) NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `personal_apis_user_name_uq` ON `personal_apis` (`user_id`,`name`);--> statement-breakpoint
CREATE TABLE `quota_leases` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`instance_id` text(64) NOT NULL,
	`kind` text(8) NOT NULL,
	`subject_id` integer NOT NULL,
	`amount` integer DEFAULT 0 NOT NULL,
	`heartbeat_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `quota_leases_owner_uq` ON `quota_leases` (`instance_id`,`kind`,`subject_id`);--> statement-breakpoint
CREATE INDEX `quota_leases_subject_idx` ON `quota_leases` (`kind`,`subject_id`);--> statement-breakpoint
CREATE TABLE `redemption_codes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text(100) NOT NULL,
	`code_hash` text(64) NOT NULL,
	`code_mask` text(32) NOT NULL,
	`amount_micros` integer NOT NULL,
	`quota` integer NOT NULL,
	`status` text(16) DEFAULT 'unused' NOT NULL,
	`created_by` integer NOT NULL,
	`redeemed_by` integer,
	`redeemed_at` integer,
	`expires_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `redemption_codes_hash_uq` ON `redemption_codes` (`code_hash`);--> statement-breakpoint
ALTER TABLE `prices` ADD `cache_read_micros_per_1m` integer;--> statement-breakpoint
ALTER TABLE `prices` ADD `cache_write_micros_per_1m` integer;--> statement-breakpoint
ALTER TABLE `tokens` ADD `personal_api_id` integer;--> statement-breakpoint
ALTER TABLE `usage_logs` ADD `cached_tokens` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_logs` ADD `cache_write_tokens` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_logs` ADD `reasoning_tokens` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_logs` ADD `source` text(16) DEFAULT 'relay' NOT NULL;