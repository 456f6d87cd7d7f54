output "bucket_name" {
  description = "Name of the bucket holding the images and the failure reports."
  value       = aws_s3_bucket.images.id
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.images.arn
}

output "table_name" {
  description = "Name of the DynamoDB table of image records."
  value       = aws_dynamodb_table.records.name
}

output "table_arn" {
  description = "ARN of the DynamoDB table."
  value       = aws_dynamodb_table.records.arn
}
