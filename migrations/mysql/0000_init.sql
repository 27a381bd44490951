CREATE TABLE `channels` (
	`id` int AUTO_INCREMENT NOT NULL,
	`type` varchar(32) NOT NULL DEFAULT 'openai',
	`name` varchar(100) NOT NULL,
	`base_url` varchar(512) NOT NULL,
	`key_encrypted` text NOT NULL,
	`key_mask` varchar(32) NOT NULL,
	`models` json NOT NULL,
	`model_mapping` json NOT NULL,
	`groups` json NOT NULL,
	`priority` int NOT NULL DEFAULT 0,
	`weight` int NOT NULL DEFAULT 1,
	`status` varchar(16) NOT NULL DEFAULT 'enabled',
	`status_reason` varchar(512),
	`response_time_ms` int,
	`used_quota` bigint NOT NULL DEFAULT 0,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `channels_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `group_ratios` (
	`name` varchar(64) NOT NULL,
	`ratio_micros` bigint NOT NULL,
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `group_ratios_name` PRIMARY KEY(`name`)
);
--> statement-breakpoint
CREATE TABLE `prices` (
	`model` varchar(128) NOT NULL,
	`input_micros_per_1m` bigint NOT NULL DEFAULT 0,
	`output_micros_per_1m` bigint NOT NULL DEFAULT 0,
	`per_request_micros` bigint NOT NULL DEFAULT 0,
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `prices_model` PRIMARY KEY(`model`)
);
--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` int AUTO_INCREMENT NOT NULL,
	`user_id` int NOT NULL,
	`name` varchar(100) NOT NULL,
	`key_hash` varchar(64) NOT NULL,
	`key_mask` varchar(32) NOT NULL,
	`status` varchar(16) NOT NULL DEFAULT 'enabled',
	`expires_at` datetime(3),
	`unlimited_quota` boolean NOT NULL DEFAULT true,
	`remain_quota` bigint NOT NULL DEFAULT 0,
	`used_quota` bigint NOT NULL DEFAULT 0,
	`request_count` bigint NOT NULL DEFAULT 0,
	`models` json NOT NULL,
	`allow_ips` json NOT NULL,
	`group_name` varchar(64),
	`accessed_at` datetime(3),
	`deleted_at` datetime(3),
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `tokens_id` PRIMARY KEY(`id`),
	CONSTRAINT `tokens_key_hash_uq` UNIQUE(`key_hash`)
);
--> statement-breakpoint
CREATE TABLE `topups` (
	`id` bigint AUTO_INCREMENT NOT NULL,
	`user_id` int NOT NULL,
	`kind` varchar(16) NOT NULL,
	`payment_id` varchar(128),
	`amount_micros` bigint,
	`quota` bigint NOT NULL,
	`remark` varchar(255),
	`created_by` int,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `topups_id` PRIMARY KEY(`id`),
	CONSTRAINT `topups_payment_id_uq` UNIQUE(`payment_id`)
);
--> statement-breakpoint
CREATE TABLE `usage_logs` (
	`id` bigint AUTO_INCREMENT NOT NULL,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`request_id` varchar(64) NOT NULL,
	`user_id` int NOT NULL,
	`token_id` int NOT NULL,
	`channel_id` int,
	`model` varchar(128) NOT NULL,
	`upstream_model` varchar(128),
	`stream` boolean NOT NULL DEFAULT false,
	`prompt_tokens` int NOT NULL DEFAULT 0,
	`completion_tokens` int NOT NULL DEFAULT 0,
	`quota` bigint NOT NULL DEFAULT 0,
	`latency_ms` int NOT NULL DEFAULT 0,
	`first_byte_ms` int,
	`status` int NOT NULL,
	`error` varchar(1024),
	CONSTRAINT `usage_logs_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `users` (
	`id` int AUTO_INCREMENT NOT NULL,
	`username` varchar(50) NOT NULL,
	`email` varchar(254),
	`password_hash` varchar(255),
	`role` varchar(16) NOT NULL DEFAULT 'user',
	`is_root` boolean NOT NULL DEFAULT false,
	`group_name` varchar(64) NOT NULL DEFAULT 'default',
	`status` varchar(16) NOT NULL DEFAULT 'enabled',
	`quota` bigint NOT NULL DEFAULT 0,
	`used_quota` bigint NOT NULL DEFAULT 0,
	`request_count` bigint NOT NULL DEFAULT 0,
	`password_changed_at` datetime(3),
	`last_login_at` datetime(3),
	`deleted_at` datetime(3),
	`external_user_id` varchar(100),
	`phone` varchar(32),
	`wechat_openid` varchar(100),
	`wechat_unionid` varchar(100),
	`alipay_userid` varchar(100),
	`login_type` varchar(16),
	`is_external` boolean NOT NULL DEFAULT false,
	`external_data` json,
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `users_id` PRIMARY KEY(`id`),
	CONSTRAINT `users_username_uq` UNIQUE(`username`),
	CONSTRAINT `users_email_uq` UNIQUE(`email`),
	CONSTRAINT `users_external_user_id_uq` UNIQUE(`external_user_id`)
);
--> statement-breakpoint
CREATE TABLE `verification_codes` (
	`id` int AUTO_INCREMENT NOT NULL,
	`user_id` int NOT NULL,
	`purpose` varchar(32) NOT NULL,
	`code_hash` varchar(128) NOT NULL,
	`attempts` int NOT NULL DEFAULT 0,
	`expires_at` datetime(3) NOT NULL,
	`used_at` datetime(3),
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `verification_codes_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE INDEX `tokens_user_id_idx` ON `tokens` (`user_id`);--> statement-breakpoint
CREATE INDEX `topups_user_idx` ON `topups` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `usage_logs_user_created_idx` ON `usage_logs` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `usage_logs_created_idx` ON `usage_logs` (`created_at`);--> statement-breakpoint
CREATE INDEX `usage_logs_token_idx` ON `usage_logs` (`token_id`);--> statement-breakpoint
CREATE INDEX `usage_logs_channel_idx` ON `usage_logs` (`channel_id`);--> statement-breakpoint
CREATE INDEX `usage_logs_request_idx` ON `usage_logs` (`request_id`);--> statement-breakpoint
CREATE INDEX `verification_codes_user_purpose_idx` ON `verification_codes` (`user_id`,`purpose`);