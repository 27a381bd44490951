CREATE TABLE `channels` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`type` text(32) DEFAULT 'openai' NOT NULL,
	`name` text(100) NOT NULL,
	`base_url` text(512) NOT NULL,
	`key_encrypted` text NOT NULL,
	`key_mask` text(32) NOT NULL,
	`models` text NOT NULL,
	`model_mapping` text NOT NULL,
	`groups` text NOT NULL,
	`priority` integer DEFAULT 0 NOT NULL,
	`weight` integer DEFAULT 1 NOT NULL,
	`status` text(16) DEFAULT 'enabled' NOT NULL,
	`status_reason` text(512),
	`response_time_ms` integer,
	`used_quota` integer DEFAULT 0 NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `group_ratios` (
	`name` text(64) PRIMARY KEY NOT NULL,
	`ratio_micros` integer NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `prices` (
	`model` text(128) PRIMARY KEY NOT NULL,
	`input_micros_per_1m` integer DEFAULT 0 NOT NULL,
	`output_micros_per_1m` integer DEFAULT 0 NOT NULL,
	`per_request_micros` integer DEFAULT 0 NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`name` text(100) NOT NULL,
	`key_hash` text(64) NOT NULL,
	`key_mask` text(32) NOT NULL,
	`status` text(16) DEFAULT 'enabled' NOT NULL,
	`expires_at` integer,
	`unlimited_quota` integer DEFAULT true NOT NULL,
	`remain_quota` integer DEFAULT 0 NOT NULL,
	`used_quota` integer DEFAULT 0 NOT NULL,
	`request_count` integer DEFAULT 0 NOT NULL,
	`models` text NOT NULL,
	`allow_ips` text NOT NULL,
	`group_name` text(64),
	`accessed_at` integer,
	`deleted_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_key_hash_uq` ON `tokens` (`key_hash`);--> statement-breakpoint
CREATE INDEX `tokens_user_id_idx` ON `tokens` (`user_id`);--> statement-breakpoint
CREATE TABLE `topups` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`kind` text(16) NOT NULL,
	`payment_id` text(128),
	`amount_micros` integer,
	`quota` integer NOT NULL,
	`remark` text(255),
	`created_by` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `topups_payment_id_uq` ON `topups` (`payment_id`);--> statement-breakpoint
CREATE INDEX `topups_user_idx` ON `topups` (`user_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `usage_logs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`request_id` text(64) NOT NULL,
	`user_id` integer NOT NULL,
	`token_id` integer NOT NULL,
	`channel_id` integer,
	`model` text(128) NOT NULL,
	`upstream_model` text(128),
	`stream` integer DEFAULT false NOT NULL,
	`prompt_tokens` integer DEFAULT 0 NOT NULL,
	`completion_tokens` integer DEFAULT 0 NOT NULL,
	`quota` integer DEFAULT 0 NOT NULL,
	`latency_ms` integer DEFAULT 0 NOT NULL,
	`first_byte_ms` integer,
	`status` integer NOT NULL,
	`error` text(1024)
);
--> statement-breakpoint
CREATE INDEX `usage_logs_user_created_idx` ON `usage_logs` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `usage_logs_created_idx` ON `usage_logs` (`created_at`);--> statement-breakpoint
CREATE INDEX `usage_logs_token_idx` ON `usage_logs` (`token_id`);--> statement-breakpoint
CREATE INDEX `usage_logs_channel_idx` ON `usage_logs` (`channel_id`);--> statement-breakpoint
CREATE INDEX `usage_logs_request_idx` ON `usage_logs` (`request_id`);--> statement-breakpoint
CREATE TABLE `users` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`username` text(50) NOT NULL,
	`email` text(254),
	`password_hash` text(255),
	`role` text(16) DEFAULT 'user' NOT NULL,
	`is_root` integer DEFAULT false NOT NULL,
	`group_name` text(64) DEFAULT 'default' NOT NULL,
	`status` text(16) DEFAULT 'enabled' NOT NULL,
	`quota` integer DEFAULT 0 NOT NULL,
	`used_quota` integer DEFAULT 0 NOT NULL,
	`request_count` integer DEFAULT 0 NOT NULL,
	`password_changed_at` integer,
	`last_login_at` integer,
	`deleted_at` integer,
	`external_user_id` text(100),
	`phone` text(32),
	`wechat_openid` text(100),
	`wechat_unionid` text(100),
	`alipay_userid` text(100),
	`login_type` text(16),
	`is_external` integer DEFAULT false NOT NULL,
	`external_data` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_username_uq` ON `users` (`username`);--> statement-breakpoint
CREATE UNIQUE INDEX `users_email_uq` ON `users` (`email`);--> statement-breakpoint
CREATE UNIQUE INDEX `users_external_user_id_uq` ON `users` (`external_user_id`);--> statement-breakpoint
CREATE TABLE `verification_codes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`purpose` text(32) NOT NULL,
	`code_hash` text(128) NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `verification_codes_user_purpose_idx` ON `verification_codes` (`user_id`,`purpose`);